package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// A wait past the deadline is refused before anything is sent, and the
// error reaches the caller through openai-go intact.
func TestRefusalReachesCallerThroughSDK(t *testing.T) {
	srv := sluicetest.NewServer(sluicetest.Options{Dialect: sluicetest.DialectOpenAI, Handler: completionHandler})
	defer srv.Close()
	tr, err := sluice.NewTransport(sluice.Config{Defaults: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "1/min"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	client := newOpenAIClient(tr, srv.URL+"/v1/")
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := ask(ctx, client, "first", 10); err != nil {
		t.Fatal(err)
	}
	_, err = ask(ctx, client, "second", 10)
	var rl *sluice.RateLimitError
	if !errors.Is(err, sluice.ErrRateLimited) || !errors.As(err, &rl) || rl.Wait < 30*time.Second {
		t.Errorf("second call: err = %v, want sluice.ErrRateLimited with the wait", err)
	}
	if got := srv.Stats().Requests; got != 1 {
		t.Errorf("provider saw %d requests, want 1", got)
	}
}
