package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// A wait past the deadline is refused before anything is sent, and the
// error reaches the caller through stripe-go intact.
func TestRefusalReachesCallerThroughSDK(t *testing.T) {
	srv := sluicetest.NewServer(sluicetest.Options{Dialect: sluicetest.DialectStripe, Handler: customerHandler()})
	defer srv.Close()
	tr, err := sluice.NewTransport(sluice.Config{Defaults: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "1/min"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	sc := newStripeClient(tr, srv.URL, "sk_test_example")
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	for i, want := range []bool{true, false} {
		_, err := sc.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("a@example.com")})
		if want && err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if !want && !errors.Is(err, sluice.ErrRateLimited) {
			t.Errorf("call %d: err = %v (%T), want sluice.ErrRateLimited", i, err, err)
		}
	}
	if got := srv.Stats().Requests; got != 1 {
		t.Errorf("provider saw %d requests, want 1", got)
	}
}
