package quota

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// A bare 429 arriving 40 ms into a 16-goroutine burst (the 12th response)
// does not drop the pace below half of what was being sent: the measured
// rate before the first half-second bucket completes is the count since the
// first response over the time since (at least 0.1 s), updated at every
// response. It was taken once, at the first response (1 per 0.5 s), and the
// throttle set the rate to 1.4/s.
func TestCubicEarlyThrottleKeepsPace(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := newCubic(AdaptiveOptions{}, t0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for i := range 11 {
		c.update(at(i*4), at(i*4), false)
	}
	c.update(at(40), at(40), true)
	sent := 12 / 0.1 // 12 responses in 40 ms, over at least 0.1 s
	if c.fillRate < sent/2 {
		t.Fatalf("fill rate %.1f/s after an early bare 429, want >= %.0f/s (half of what was sent)", c.fillRate, sent/2)
	}
}

// A request paced by a configured rate (Cost.Paced) does not switch rate
// discovery on with a bare 429 (arrival jitter), and is not held by it.
func TestPacedThrottleSkipsDiscovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{})
		now := time.Now()
		feed(t, tr, "api", Cost{Paced: true}, respAt(now, 200))
		feed(t, tr, "api", Cost{Paced: true}, respAt(now, 429))
		for _, s := range tr.Stats() {
			if s.Bucket == "adaptive" && s.Throttles > 0 {
				t.Errorf("a paced request's bare 429 engaged rate discovery: %+v", s)
			}
		}
		for i := range 50 {
			if got := acquireAt(t, tr, now, Cost{Paced: true}); got != 0 {
				t.Fatalf("paced request %d held %v after a jitter 429", i, got)
			}
		}
	})
}

// Issue 11.12: a response to an earlier request saying remaining 0 with a
// reset 2 s away (a short secondary window), applied after the response to
// a later request (hourly reset), pauses the bucket for 2 s, not to the
// hourly reset. Before the fix the bucket stayed empty until the hourly
// reset and this Acquire failed with a WaitError of about an hour.
func TestStaleThrottlePausesForItsOwnReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{BurstFraction: 1})
		start := time.Now()
		hourly := unix(start.Add(time.Hour))
		feed(t, tr, "api", Cost{}, respAt(start, 200, "X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4000",
			"X-RateLimit-Reset", hourly, "X-RateLimit-Resource", "core"))
		early, err := tr.Acquire(context.Background(), "api", Cost{})
		if err != nil {
			t.Fatal(err)
		}
		late, err := tr.Acquire(context.Background(), "api", Cost{})
		if err != nil {
			t.Fatal(err)
		}
		late(respAt(start, 200, "X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "3998",
			"X-RateLimit-Reset", hourly, "X-RateLimit-Resource", "core"), nil)
		early(respAt(start, 429, "X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "0",
			"X-RateLimit-Reset", unix(start.Add(2*time.Second)), "X-RateLimit-Resource", "core"), nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done, err := tr.Acquire(ctx, "api", Cost{})
		if err != nil {
			t.Fatalf("Acquire after a 2-second throttle: %v; want a wait of about 2s", err)
		}
		done(nil, nil)
		if waited := time.Since(start); waited > 3*time.Second {
			t.Fatalf("waited %v after a throttle with a 2 s reset, want at most 3s", waited)
		}
	})
}

// Issue 11.1: an absurd Retry-After on a bare 429 pauses the host for at
// most the request's MaxPause (the route's max_retry_after), not 24 hours.
func TestAbsurdRetryAfterCapped(t *testing.T) {
	for _, ra := range []string{"999999999", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		synctest.Test(t, func(t *testing.T) {
			tr := newTestTracker(t, TrackerOptions{})
			start := time.Now()
			cost := Cost{MaxPause: time.Minute, MaxWait: 2 * time.Minute}
			feed(t, tr, "api", cost, respAt(start, 200))
			feed(t, tr, "api", cost, respAt(start, 429, "Retry-After", ra))
			done, err := tr.Acquire(context.Background(), "api", cost)
			if err != nil {
				t.Fatalf("Retry-After %q: %v; want a wait of at most a minute", ra, err)
			}
			done(nil, nil)
			if waited := time.Since(start); waited > time.Minute+time.Second {
				t.Fatalf("Retry-After %q held the host %v, want at most the 1m cap", ra, waited)
			}
		})
	}
}

// Issue 11.1 and 11.13: a wait longer than Cost.MaxWait (a reset a month
// away, a GitHub reset 15 s away with a 2 s ceiling) fails at once with a
// *WaitError naming the bucket, the wait and the ceiling; before, a caller
// with no deadline blocked until the reset.
func TestWaitPastCeilingFailsAtOnce(t *testing.T) {
	for _, reset := range []time.Duration{15 * time.Second, 30 * 24 * time.Hour} {
		synctest.Test(t, func(t *testing.T) {
			tr := newTestTracker(t, TrackerOptions{})
			start := time.Now()
			feed(t, tr, "api", Cost{}, respAt(start, 200, "X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0",
				"X-RateLimit-Reset", unix(start.Add(reset)), "X-RateLimit-Resource", "core"))
			_, err := tr.Acquire(context.Background(), "api", Cost{MaxWait: 2 * time.Second})
			var we *WaitError
			if !errors.As(err, &we) || we.Ceiling != 2*time.Second || we.Bucket != "github:core" || we.Wait < 2*time.Second {
				t.Fatalf("reset in %v: Acquire = %v, want a *WaitError for github:core with Ceiling 2s", reset, err)
			}
			if !errors.Is(err, ErrWouldExceedDeadline) {
				t.Errorf("%v does not match ErrWouldExceedDeadline", err)
			}
			if time.Since(start) != 0 {
				t.Errorf("refused after %v, want at once", time.Since(start))
			}
		})
	}
}

var _ = http.StatusOK
