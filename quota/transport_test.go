package quota_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestLearnsQuotaThroughTransport runs a 600-request job at concurrency 16
// through sluice's Transport with NO rate configured against a provider
// allowing 50 requests a second, in each dialect: the Tracker must learn
// the quota from the headers (or find the rate from bare 429s) and keep
// nearly every request within it (issue 5's targets).
func TestLearnsQuotaThroughTransport(t *testing.T) {
	const requests, workers = 600, 16
	tests := []struct {
		dialect    sluicetest.Dialect
		limit      sluicetest.Limit
		rate       float64
		minGoodput float64
		max429     int // 2% of requests, or what bare 429s need
	}{
		{sluicetest.DialectRetryAfter, sluicetest.TokenBucket(50, 10), 50, 0.90, requests * 2 / 100},
		{sluicetest.DialectRetryAfterDate, sluicetest.TokenBucket(50, 10), 50, 0.90, requests * 2 / 100},
		{sluicetest.DialectGitHub, sluicetest.FixedWindow(50, time.Second), 50, 0.90, requests * 2 / 100},
		{sluicetest.DialectOpenAI, sluicetest.TokenBucket(50, 10), 50, 0.90, requests * 2 / 100},
		{sluicetest.DialectIETF, sluicetest.TokenBucket(50, 10), 50, 0.90, requests * 2 / 100},
		{sluicetest.DialectShopify, sluicetest.LeakyBucket(10, 50), 50, 0.90, requests * 2 / 100},
		{sluicetest.DialectNone, sluicetest.TokenBucket(50, 10), 50, 0.80, requests / 5},
	}
	for _, tt := range tests {
		t.Run(tt.dialect.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := sluicetest.NewProvider(sluicetest.Options{Limit: tt.limit, Dialect: tt.dialect})
				defer p.Close()
				cfg := sluice.Config{Defaults: sluice.Policy{Retry: &sluice.RetryConfig{MaxAttempts: 10}}}
				tr, err := sluice.NewTransport(cfg, p)
				if err != nil {
					t.Fatalf("NewTransport: %v", err)
				}
				defer tr.Close()
				wall, failures := runJob(tr, requests, workers)
				st := p.Stats()
				ideal := time.Duration(float64(requests) / tt.rate * float64(time.Second))
				goodput := float64(ideal) / float64(wall)
				t.Logf("%s: wall %v, goodput %.3f, 429s %d, failures %d", tt.dialect, wall, goodput, st.Rejected, failures)
				if failures != 0 {
					t.Errorf("%d requests failed", failures)
				}
				if st.Rejected > tt.max429 {
					t.Errorf("provider throttled %d requests, want at most %d", st.Rejected, tt.max429)
				}
				if goodput < tt.minGoodput {
					t.Errorf("goodput %.3f < %.2f", goodput, tt.minGoodput)
				}
			})
		})
	}
}

// runJob sends n GETs to distinct paths through rt from workers goroutines
// and returns the wall time and the number of requests that failed.
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
