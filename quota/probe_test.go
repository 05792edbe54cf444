package quota

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// shopifyResp is a Shopify response reporting used of 10.
func shopifyResp(serverNow time.Time, used string) *http.Response {
	return respAt(serverNow, 200, "X-Shopify-Shop-Api-Call-Limit", used+"/10")
}

// An empty Shopify bucket whose leak rate is not known yet lets a probe go
// 100 ms after the last grant or response, not a whole second; each probe
// that teaches nothing (answered with an error here) doubles the wait, up
// to a second.
func TestProbeEmptyBucketSoonThenBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectShopify})
		start := time.Now()
		feed(t, tr, "api", Cost{}, shopifyResp(start, "10"))
		want := []time.Duration{100, 300, 700, 1500, 2500, 3500} // ms since start
		for i, w := range want {
			if got := acquireAt(t, tr, start, Cost{}); got != w*time.Millisecond {
				t.Errorf("probe %d at %v, want %v", i+1, got, w*time.Millisecond)
			}
		}
	})
}

// A probe whose response measures the leak ends the probing: the next
// requests are paced at the measured rate.
func TestProbeLearnsLeakRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectShopify})
		start := time.Now()
		feed(t, tr, "api", Cost{}, shopifyResp(start, "10"))
		done, err := tr.Acquire(context.Background(), "api", Cost{})
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != firstProbe {
			t.Fatalf("probe at %v, want %v", got, firstProbe)
		}
		// 100 ms at 50/s drained 5: the probe found 5 in the bucket.
		done(shopifyResp(start, "6"), nil)
		st := tr.Stats()
		if len(st) != 1 || st[0].Pace < 40 {
			t.Fatalf("Stats after the probe = %+v, want a pace of about 50/s", st)
		}
	})
}

// A request the caller paces to a configured rate (Cost.Paced) is not held
// by the probe of an empty bucket of unknown refill: the configured rate
// paces it. A bucket paused by a throttle still holds it.
func TestPacedNotHeldByUnknownRefill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectShopify})
		start := time.Now()
		feed(t, tr, "api", Cost{Paced: true}, shopifyResp(start, "10"))
		if got := acquireAt(t, tr, start, Cost{Paced: true}); got != 0 {
			t.Errorf("paced request at %v, want at once", got)
		}
		done, err := tr.Acquire(context.Background(), "api", Cost{Paced: true})
		if err != nil {
			t.Fatal(err)
		}
		done(respAt(start, 429, "X-Shopify-Shop-Api-Call-Limit", "10/10", "Retry-After", "2.0"), nil)
		if got := acquireAt(t, tr, start, Cost{Paced: true}); got < 2*time.Second {
			t.Errorf("paced request after a throttle's Retry-After: 2.0 at %v, want not before 2s", got)
		}
	})
}

// 200 GETs from 16 workers against a leaky bucket of 10 draining 50/s, as
// bench/goodput runs them (no latency), with nothing configured: within
// 5% of the least time, (200-10)/50 = 3.8 s, and no throttle. Holding the
// first probe a whole second made it 4.8 s.
func TestTrackerShopifyJobGoodput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := sluicetest.NewProvider(sluicetest.Options{Limit: sluicetest.LeakyBucket(10, 50), Dialect: sluicetest.DialectShopify})
		defer p.Close()
		tr := newTestTracker(t, TrackerOptions{})
		r := runJob(t, tr, p, 200, 16, Cost{})
		goodput := 3.8 / r.wall.Seconds()
		t.Logf("wall %v goodput %.2f throttles %d failures %d", r.wall, goodput, r.throttles, r.failures)
		if goodput < 0.95 || r.throttles > 0 || r.failures > 0 {
			t.Errorf("goodput %.2f (want >= 0.95), throttles %d (want 0), failures %d", goodput, r.throttles, r.failures)
		}
	})
}
