package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// A 429 whose Retry-After is past what sluice waits for is handed to the
// SDK at once, which builds its own *anthropic.Error from it.
func TestGiveUpOnStatusGivesAnthropicError(t *testing.T) {
	srv := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.FixedWindow(1, 24*time.Hour), Dialect: sluicetest.DialectRetryAfter, Handler: messageHandler})
	defer srv.Close()
	tr, err := newTransport(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	client := newAnthropicClient(tr, srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := ask(ctx, client, "first", true); err != nil {
		t.Fatal(err)
	}
	_, err = ask(ctx, client, "second", true)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("err = %v (%T), want *anthropic.Error with status 429", err, err)
	}
	if got := sluice.OutcomeOf(apiErr.Response); got.GaveUp != "retry-after too long" {
		t.Errorf("outcome %+v, want gave up on retry-after too long", got)
	}
	if got := srv.Stats().Requests; got != 2 {
		t.Errorf("provider saw %d requests, want 2", got)
	}
}
