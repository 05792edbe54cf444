package quota

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// jobResult is what one simulated job measured.
type jobResult struct {
	wall      time.Duration
	throttles int64 // throttled responses received
	failures  int64 // requests given up after maxAttempts
}

const maxAttempts = 20

// runJob sends n requests with conc workers through tr to p, retrying a
// throttled request (up to maxAttempts) with no wait of its own: the
// Tracker alone decides when to send. It returns when all are done.
func runJob(t *testing.T, tr *Tracker, p *sluicetest.Provider, n, conc int, cost Cost) jobResult {
	t.Helper()
	start := time.Now()
	var next, throttles, failures atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				ok := false
				for range maxAttempts {
					done, err := tr.Acquire(context.Background(), "api", cost)
					if err != nil {
						t.Errorf("Acquire: %v", err)
						return
					}
					req, _ := http.NewRequest(http.MethodGet, "http://api/v1/items", nil)
					if cost.Tokens > 0 {
						req.Header.Set(sluicetest.CostHeader, strconv.FormatInt(cost.Tokens, 10))
					}
					resp, err := p.RoundTrip(req)
					done(resp, err)
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok = true
						break
					}
					throttles.Add(1)
				}
				if !ok {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return jobResult{wall: time.Since(start), throttles: throttles.Load(), failures: failures.Load()}
}

// TestTrackerJobs runs a 600-request job at concurrency 16 against a
// provider allowing 50 requests/s (burst 10) in each dialect, with no
// configured rate, and checks goodput (ideal time / wall time) and the
// throttles received.
func TestTrackerJobs(t *testing.T) {
	const n, conc, rate = 600, 16, 50.0
	tests := []struct {
		dialect      sluicetest.Dialect
		limit        sluicetest.Limit
		minGoodput   float64
		maxThrottles int64
	}{
		{sluicetest.DialectGitHub, sluicetest.FixedWindow(50, time.Second), 0.90, n / 50},
		{sluicetest.DialectOpenAI, sluicetest.TokenBucket(rate, 10), 0.90, n / 50},
		{sluicetest.DialectIETF, sluicetest.TokenBucket(rate, 10), 0.90, n / 50},
		{sluicetest.DialectShopify, sluicetest.LeakyBucket(10, rate), 0.90, n / 50},
		{sluicetest.DialectRetryAfter, sluicetest.TokenBucket(rate, 10), 0.80, n / 20},
		{sluicetest.DialectRetryAfterDate, sluicetest.TokenBucket(rate, 10), 0.80, n / 20},
		{sluicetest.DialectNone, sluicetest.TokenBucket(rate, 10), 0.80, n / 20},
		{sluicetest.DialectNginx, sluicetest.TokenBucket(rate, 10), 0.80, n / 20},
	}
	for _, tt := range tests {
		t.Run(tt.dialect.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := sluicetest.NewProvider(sluicetest.Options{Limit: tt.limit, Dialect: tt.dialect,
					Faults: sluicetest.Faults{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Seed: 1}})
				defer p.Close()
				tr := newTestTracker(t, TrackerOptions{})
				r := runJob(t, tr, p, n, conc, Cost{})
				ideal := time.Duration(float64(n-10) / rate * float64(time.Second))
				goodput := ideal.Seconds() / r.wall.Seconds()
				t.Logf("%-12s first: wall %6.2fs goodput %.2f throttles %3d (%.1f%%) failures %d",
					tt.dialect, r.wall.Seconds(), goodput, r.throttles, 100*float64(r.throttles)/n, r.failures)
				if goodput < tt.minGoodput || r.throttles > tt.maxThrottles || r.failures > 0 {
					t.Errorf("goodput %.2f (want >= %.2f), throttles %d (want <= %d), failures %d",
						goodput, tt.minGoodput, r.throttles, tt.maxThrottles, r.failures)
				}
				// The same job again on the same Tracker: what was learned
				// (the quota, the adaptive rate) carries over.
				time.Sleep(10 * time.Second)
				p.Reset()
				r2 := runJob(t, tr, p, n, conc, Cost{})
				goodput2 := ideal.Seconds() / r2.wall.Seconds()
				t.Logf("%-12s again: wall %6.2fs goodput %.2f throttles %3d (%.1f%%) failures %d",
					tt.dialect, r2.wall.Seconds(), goodput2, r2.throttles, 100*float64(r2.throttles)/n, r2.failures)
				if goodput2 < tt.minGoodput || r2.throttles > tt.maxThrottles || r2.failures > 0 {
					t.Errorf("second job: goodput %.2f (want >= %.2f), throttles %d (want <= %d), failures %d",
						goodput2, tt.minGoodput, r2.throttles, tt.maxThrottles, r2.failures)
				}
			})
		})
	}
}

// An LLM-style job limited by tokens rather than requests: 50 requests/s
// (burst 10) but 2,000 tokens/s (burst 4,000) at 100 tokens a request, so
// 20 requests/s. Requests carrying their token cost are paced by the
// tokens bucket.
func TestTrackerJobTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := sluicetest.NewProvider(sluicetest.Options{Limit: sluicetest.TokenBucket(50, 10),
			TokenLimit: sluicetest.TokenBucket(2000, 4000), Dialect: sluicetest.DialectOpenAI,
			Faults: sluicetest.Faults{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Seed: 3}})
		defer p.Close()
		tr := newTestTracker(t, TrackerOptions{})
		const n = 400
		r := runJob(t, tr, p, n, 16, Cost{Requests: 1, Tokens: 100})
		ideal := (n*100 - 4000) / 2000.0 // seconds, after the initial 4,000-token burst
		goodput := ideal / r.wall.Seconds()
		t.Logf("tokens: wall %v goodput %.2f throttles %d failures %d", r.wall, goodput, r.throttles, r.failures)
		if goodput < 0.90 || r.throttles > n/50 || r.failures > 0 {
			t.Errorf("goodput %.2f (want >= 0.90), throttles %d (want <= %d), failures %d", goodput, r.throttles, n/50, r.failures)
		}
	})
}
