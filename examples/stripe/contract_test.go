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

// When sluice's retries end on Stripe's 429, stripe-go gets that response
// and builds its own *stripe.Error with code rate_limit.
func TestGiveUpOnStatusGivesStripeError(t *testing.T) {
	srv := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.TokenBucket(0, 0), Dialect: sluicetest.DialectStripe, Handler: customerHandler()})
	defer srv.Close()
	tr, err := newTransport(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	sc := newStripeClient(tr, srv.URL, "sk_test_example")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// stripe.Error carries no *http.Response: WithOutcome records what
	// sluice did for a caller that sees only the SDK's error.
	var out sluice.Outcome
	_, err = sc.V1Customers.Create(sluice.WithOutcome(ctx, &out), &stripe.CustomerCreateParams{Email: stripe.String("a@example.com")})
	var se *stripe.Error
	if !errors.As(err, &se) || se.HTTPStatusCode != 429 || se.Code != stripe.ErrorCodeRateLimit {
		t.Fatalf("err = %v (%T), want *stripe.Error 429 rate_limit", err, err)
	}
	if out.Attempts != 6 || out.GaveUp != "max attempts" {
		t.Errorf("outcome %+v, want 6 attempts, gave up on max attempts", out)
	}
	if st := srv.Stats(); st.Requests != 6 || st.Accepted != 0 {
		t.Errorf("provider saw %d requests (%d accepted), want sluice's 6 attempts, none accepted", st.Requests, st.Accepted)
	}
}
