// Command stripe runs stripe-go through a sluice.Transport against a
// simulated Stripe (sluicetest's Stripe dialect: 429 rate_limit, and
// Idempotency-Key replays) that loses some responses after acting on
// them, and prints what the provider saw.
//
//	go run ./stripe
//
// The functions here are the snippets of docs/sdks.md.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// newTransport is sluice's configuration for Stripe at base: its default
// 25 requests a second. POSTs are retried because stripe-go sends each with
// an Idempotency-Key, which Stripe uses to answer a repeat with the first
// answer instead of acting twice.
func newTransport(base string) (*sluice.Transport, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return sluice.NewTransport(sluice.Config{
		Routes: []sluice.Route{{
			Name:  "stripe",
			Match: sluice.Match{Host: u.Hostname()}, // api.stripe.com in production
			Policy: sluice.Policy{
				Limits: []sluice.LimitConfig{{Rate: "22/s", Burst: 4}}, // the account's 25/s less a margin
				Retry:  &sluice.RetryConfig{MaxAttempts: 6},
			},
		}},
	}, nil)
}

// newStripeClient wires stripe-go to sluice, with stripe-go's own network
// retries off (sluice retries, with the same Idempotency-Key).
func newStripeClient(tr *sluice.Transport, base, key string) *stripe.Client {
	return stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		HTTPClient:        &http.Client{Transport: tr},
		MaxNetworkRetries: stripe.Int64(0),
		URL:               stripe.String(base), // omit in production
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})))
}

// customerHandler answers POST /v1/customers like Stripe, numbering the
// customers it creates.
func customerHandler() http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/customers" || r.ParseForm() != nil {
			http.Error(w, `{"error":{"type":"invalid_request_error","message":"Unrecognized request URL"}}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprintf("cus_%04d", n.Add(1)), "object": "customer", "email": r.PostForm.Get("email"),
		})
	})
}

// createAll creates n customers from workers goroutines and returns the
// IDs created, by email, and the last error.
func createAll(ctx context.Context, sc *stripe.Client, n, workers int) (ids map[string]string, last error) {
	var mu sync.Mutex
	ids = map[string]string{}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				email := fmt.Sprintf("user%d@example.com", i)
				c, err := sc.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String(email)})
				mu.Lock()
				if err != nil {
					last = err
				} else {
					ids[email] = c.ID
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return ids, last
}

// newServer starts the simulated Stripe: 25 requests a second, and one
// answer in eight lost after the customer was created.
func newServer() *sluicetest.Server {
	return sluicetest.NewServer(sluicetest.Options{
		Limit:   sluicetest.TokenBucket(25, 5),
		Dialect: sluicetest.DialectStripe,
		Faults:  sluicetest.Faults{LostRatio: 0.125, Seed: 7},
		Handler: customerHandler(),
	})
}

func run(ctx context.Context, w io.Writer) error {
	srv := newServer()
	defer srv.Close()
	tr, err := newTransport(srv.URL)
	if err != nil {
		return err
	}
	defer tr.Close()
	sc := newStripeClient(tr, srv.URL, "sk_test_example")
	start := time.Now()
	ids, last := createAll(ctx, sc, 40, 8)
	st := srv.Stats()
	fmt.Fprintf(w, "stripe-go through sluice: %d/40 customers created in %v, last error %v\n", len(ids), time.Since(start).Round(10*time.Millisecond), last)
	fmt.Fprintf(w, "Stripe saw %d requests: %d answers lost, %d replayed from the Idempotency-Key, %d duplicates, %d throttled\n",
		st.Requests, st.LostResponses, st.Replays, st.Duplicates, st.Rejected)
	return nil
}
