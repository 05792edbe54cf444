package quota

import (
	"math"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// The CUBIC arithmetic follows the AWS SDK constants: a throttle sets
// lastMax to the measured rate and the fill rate to 0.7 of it; the rate is
// back at lastMax W = cbrt(lastMax*0.3/0.4) seconds later and grows past it
// cubically.
func TestCubicArithmetic(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := newCubic(AdaptiveOptions{}, t0)
	c.enabled, c.measured, c.fillRate, c.warm = true, 40, 100, true // steady state: sending 40/s
	c.lastBucket = 0
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

	c.update(at(0.1), at(0.1), true)
	// measured was 40; the sample in the current bucket does not change it.
	if c.lastMax != 40 || !near(c.fillRate, 28) {
		t.Fatalf("after throttle: lastMax %v fill %v, want 40 and 28", c.lastMax, c.fillRate)
	}
	w := math.Cbrt(40 * 0.3 / 0.4)
	if !near(c.window, w) {
		t.Fatalf("W = %v, want %v", c.window, w)
	}
	c.measured = 100 // keep the 2x-measured cap out of the way
	c.update(at(0.1+w), at(0.1+w), false)
	if !near(c.fillRate, 40) {
		t.Errorf("after W: fill %v, want lastMax 40", c.fillRate)
	}
	c.measured = 100
	c.update(at(0.1+w+2), at(0.1+w+2), false)
	if want := 0.4*8 + 40; !near(c.fillRate, want) {
		t.Errorf("W+2s: fill %v, want %v", c.fillRate, want)
	}
	// A throttle of a request sent before the last decrease changes nothing.
	before := c.fillRate
	c.update(at(0.1+w+2.1), at(0.05), true)
	if c.fillRate != before {
		t.Errorf("stale throttle changed the rate: %v -> %v", before, c.fillRate)
	}
	// The floor is MinRate (0.5/s by default).
	c.measured = 0.1
	c.update(at(20), at(20), true)
	if c.fillRate != defaultMinRate {
		t.Errorf("fill %v, want the 0.5/s floor", c.fillRate)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*max(1, math.Abs(b)) }

// A configured InitialRate is where the first throttle lands, without
// slow start.
func TestCubicInitialRate(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := newCubic(AdaptiveOptions{InitialRate: 20}, t0)
	c.update(t0, t0, true)
	if !near(c.fillRate, 20) || c.slowStart {
		t.Errorf("fill %v slow start %v, want 20 and no slow start", c.fillRate, c.slowStart)
	}
	c2 := newCubic(AdaptiveOptions{MaxRate: 5, InitialRate: 20}, t0)
	c2.update(t0, t0, true)
	if c2.fillRate != 5 {
		t.Errorf("fill %v, want MaxRate 5", c2.fillRate)
	}
}

// Hosts that send quota headers never engage the adaptive limiter.
func TestAdaptiveOnlyForBareThrottles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{})
		now := time.Now()
		feed(t, tr, "api", Cost{}, respAt(now, 429, "X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "0",
			"X-RateLimit-Reset", unix(now.Add(time.Second)), "X-RateLimit-Resource", "core"))
		for _, s := range tr.Stats() {
			if s.Bucket == "adaptive" {
				t.Errorf("adaptive engaged on a host with quota headers: %+v", s)
			}
		}
		feed(t, tr, "bare", Cost{}, respAt(now, 429))
		found := false
		for _, s := range tr.Stats() {
			found = found || s.Host == "bare" && s.Bucket == "adaptive" && s.Throttles == 1 && s.Pace > 0
		}
		if !found {
			t.Errorf("adaptive not engaged after a bare 429: %+v", tr.Stats())
		}
	})
}

// The adaptive limiter finds limits of different sizes: after a first job,
// a 30-second job runs at >= 80% of the hidden limit with few throttles.
// CUBIC's growth constant is absolute (0.4 req/s per s^3), so at a low
// limit it probes more often relative to the rate: about every 2-3 s at
// 10/s, hence the higher throttle share allowed there.
func TestAdaptiveConverges(t *testing.T) {
	for _, tt := range []struct{ rate, maxShare float64 }{{10, 0.06}, {50, 0.02}, {200, 0.02}} {
		rate := tt.rate
		t.Run(strconv.FormatFloat(rate, 'f', -1, 64)+"/s", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := sluicetest.NewProvider(sluicetest.Options{Limit: sluicetest.TokenBucket(rate, 10),
					Faults: sluicetest.Faults{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Seed: 2}})
				defer p.Close()
				tr := newTestTracker(t, TrackerOptions{})
				warm := runJob(t, tr, p, int(10*rate), 16, Cost{})
				time.Sleep(5 * time.Second)
				p.Reset()
				n := int(30 * rate)
				r := runJob(t, tr, p, n, 16, Cost{})
				goodput := float64(n-10) / rate / r.wall.Seconds()
				share := float64(r.throttles) / float64(n)
				t.Logf("limit %v/s: warm-up %v with %d throttles; job %v goodput %.2f throttles %d (%.1f%%)",
					rate, warm.wall, warm.throttles, r.wall, goodput, r.throttles, 100*share)
				if goodput < 0.80 || share > tt.maxShare || r.failures > 0 {
					t.Errorf("goodput %.2f (want >= 0.80), throttles %.1f%% (want <= %v%%), failures %d",
						goodput, 100*share, 100*tt.maxShare, r.failures)
				}
			})
		})
	}
}

// Averages over six fault seeds, for a figure less tied to one run's luck:
// a first 12-second job, the same job again, and a 60-second job, on one
// Tracker, at 50/s and 200/s.
func TestAdaptiveSeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("several simulated minutes")
	}
	const seeds = 6
	for _, tt := range []struct{ rate, minFirst, minLong float64 }{{50, 0.85, 0.95}, {200, 0.70, 0.90}} {
		rate := tt.rate
		var first, again, long float64
		for seed := int64(1); seed <= seeds; seed++ {
			synctest.Test(t, func(t *testing.T) {
				p := sluicetest.NewProvider(sluicetest.Options{Limit: sluicetest.TokenBucket(rate, 10),
					Faults: sluicetest.Faults{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Seed: seed}})
				defer p.Close()
				tr := newTestTracker(t, TrackerOptions{})
				for i, secs := range []float64{12, 12, 60} {
					if i > 0 {
						time.Sleep(5 * time.Second)
						p.Reset()
					}
					n := int(secs * rate)
					r := runJob(t, tr, p, n, 16, Cost{})
					g := (float64(n) - 10) / rate / r.wall.Seconds() / seeds
					switch i {
					case 0:
						first += g
					case 1:
						again += g
					default:
						long += g
					}
				}
			})
		}
		t.Logf("limit %v/s, mean of %d seeds: first job %.3f, again %.3f, 60 s job %.3f", rate, seeds, first, again, long)
		if first < tt.minFirst || long < tt.minLong {
			t.Errorf("mean goodput: first %.3f (want >= %v), long %.3f (want >= %v)", first, tt.minFirst, long, tt.minLong)
		}
	}
}

// Throttles of a burst sent at the same instant as the one that enabled
// the limiter are the same congestion event: one decrease, and slow start
// goes on. (With zero latency, as under synctest or on a fast loopback,
// the burst's throttles carry the very instant of the first decrease; a
// second decrease used to end slow start at 0.98/s and cost a 600-request
// job 4 s.)
func TestCubicBurstSameInstant(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := newCubic(AdaptiveOptions{}, t0)
	for range 10 {
		c.update(t0, t0, false)
	}
	c.update(t0, t0, true)
	rate := c.fillRate
	for range 5 {
		c.update(t0, t0, true)
	}
	if c.fillRate != rate || !c.slowStart {
		t.Fatalf("after 5 more throttles of the same burst: fill %v (want %v), slow start %v (want true)", c.fillRate, rate, c.slowStart)
	}
	// A request sent after the decrease is a new event.
	later := t0.Add(time.Millisecond)
	c.update(later, later, true)
	if c.fillRate >= rate && c.fillRate != defaultMinRate || c.slowStart {
		t.Fatalf("throttle of a later request: fill %v (was %v), slow start %v; want a decrease ending slow start", c.fillRate, rate, c.slowStart)
	}
}

// A throttle sets lastMax to no less than what the provider accepted in
// the last 250 ms, when the smoothed measured rate lags behind it (a job
// starting after an idle gap had 37/s measured at a 50/s limit: the rate
// fell to 26/s and took 7 s to climb back); in slow start, to that rate
// between half the rate that hit the limit and that rate.
func TestCubicThrottleKeepsAcceptedRate(t *testing.T) {
	tests := []struct {
		name      string
		slowStart bool
		fill      float64
		wantMax   float64
	}{
		{"congestion avoidance", false, 75, 50},
		{"slow start, accepted within [fill/2, fill]", true, 80, 50},
		{"slow start, accepted under fill/2", true, 200, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Unix(1_000_000, 0)
			c := newCubic(AdaptiveOptions{}, t0)
			c.enabled, c.slowStart, c.fillRate, c.lastMax = true, tt.slowStart, tt.fill, 500
			c.measured, c.warm, c.lastBucket = 37, true, 10
			for i := range 10 { // 10 successes in the 200 ms before 10 s: 50/s
				c.accept(9.8 + 0.02*float64(i))
			}
			now := t0.Add(10 * time.Second)
			c.update(now, now, true)
			if d := c.lastMax - tt.wantMax; d > 1e-9 || d < -1e-9 {
				t.Errorf("lastMax = %v, want %v (fill %v, accepted 50/s, measured 37/s)", c.lastMax, tt.wantMax, tt.fill)
			}
		})
	}
}
