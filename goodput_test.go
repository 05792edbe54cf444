package sluice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// TestGoodputAtTrueLimit runs a 600-request job at concurrency 16 against
// providers with hidden limits, with the route's limit configured to the
// provider's true limit: no 429s, no failures, and goodput (ideal time =
// requests / rate, divided by the wall time) of at least 0.97. A burst lets
// a job beat the ideal slightly; the log also shows the stricter ratio to
// (requests - burst) / rate, the least time the provider allows.
func TestGoodputAtTrueLimit(t *testing.T) {
	const requests, workers = 600, 16
	tests := []struct {
		name    string
		limit   sluicetest.Limit
		dialect sluicetest.Dialect
		cfg     LimitConfig
		rate    float64
		burst   int
	}{
		{"token bucket 50/s burst 10", sluicetest.TokenBucket(50, 10), sluicetest.DialectRetryAfter,
			LimitConfig{Rate: "50/s", Burst: 10}, 50, 10},
		{"fixed window 50 per 1s (GitHub)", sluicetest.FixedWindow(50, time.Second), sluicetest.DialectGitHub,
			LimitConfig{Rate: "50/s", Strict: true}, 50, 50},
		{"leaky bucket 40 draining 20/s (Shopify)", sluicetest.LeakyBucket(40, 20), sluicetest.DialectShopify,
			LimitConfig{Rate: "20/s", Burst: 40}, 20, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := sluicetest.NewProvider(sluicetest.Options{Limit: tt.limit, Dialect: tt.dialect})
				defer p.Close()
				cfg := Config{Routes: []Route{{Name: "api", Match: Match{Host: "api.example.com"},
					Policy: Policy{Limits: []LimitConfig{tt.cfg}}}}}
				tr := newTestTransport(t, cfg, p)
				wall, failures := runJob(tr, requests, workers)
				st := p.Stats()
				ideal := time.Duration(float64(requests) / tt.rate * float64(time.Second))
				least := time.Duration(float64(requests-tt.burst) / tt.rate * float64(time.Second))
				goodput := float64(ideal) / float64(wall)
				t.Logf("wall %v, ideal %v, goodput %.3f (%.3f of the least time %v), accepted %d, rejected %d, failures %d",
					wall, ideal, goodput, float64(least)/float64(wall), least, st.Accepted, st.Rejected, failures)
				if st.Rejected != 0 || failures != 0 {
					t.Fatalf("provider rejected %d, client failures %d; want none", st.Rejected, failures)
				}
				if goodput < 0.97 {
					t.Fatalf("goodput %.3f < 0.97", goodput)
				}
			})
		})
	}
}

// runJob sends n GETs through rt from the given number of workers and
// returns the wall time and the number of failed requests.
func runJob(rt http.RoundTripper, n, workers int) (time.Duration, int64) {
	var next, failures atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				req, _ := http.NewRequestWithContext(context.Background(), "GET", fmt.Sprintf("https://api.example.com/items/%d", i), nil)
				resp, err := rt.RoundTrip(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), failures.Load()
}

func TestRateLimitRefusesPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(int, *http.Request) (*http.Response, error) { return reply(200), nil }}
		cfg := Config{Defaults: Policy{Limits: []LimitConfig{{Rate: "1/min"}}}}
		tr := newTestTransport(t, cfg, s)
		if _, err := do(tr, "GET", "https://api.example.com/a", ""); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/b", nil)
		start := time.Now()
		_, err := tr.RoundTrip(req)
		var rl *RateLimitError
		if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) {
			t.Fatalf("err = %v, want a *RateLimitError", err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("waited %v before refusing; want an immediate refusal", time.Since(start))
		}
		// 1/min is paced 0.5% under its rate (the skew margin): 60.3 s.
		if rl.Wait < 58*time.Second || rl.Wait > 61*time.Second {
			t.Fatalf("RateLimitError.Wait = %v, want about 1m", rl.Wait)
		}
	})
}
