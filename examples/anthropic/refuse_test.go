package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// A call whose tokens would wait past the deadline is refused before
// anything is sent, and the error reaches the caller through
// anthropic-sdk-go intact.
func TestRefusalReachesCallerThroughSDK(t *testing.T) {
	srv := sluicetest.NewServer(providerOptions())
	defer srv.Close()
	tr, err := sluice.NewTransport(sluice.Config{Defaults: sluice.Policy{
		Limits: []sluice.LimitConfig{{Rate: "1000/min", Burst: 500, Weighted: true}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	client := newAnthropicClient(tr, srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := ask(ctx, client, "first", true); err != nil { // about 310 tokens
		t.Fatal(err)
	}
	_, err = ask(ctx, client, "second", true) // 310 more: 120 missing, 7 s away
	var rl *sluice.RateLimitError
	if !errors.Is(err, sluice.ErrRateLimited) || !errors.As(err, &rl) {
		t.Errorf("second call: err = %v, want sluice.ErrRateLimited", err)
	}
	if got := srv.Stats().Requests; got != 1 {
		t.Errorf("provider saw %d requests, want 1", got)
	}
}
