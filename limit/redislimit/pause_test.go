package redislimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// TestPauseShared checks that a pause set by one worker is seen by another
// worker's bucket and window of the same name in their next decision, never
// shortens, and expires with a TTL.
func TestPauseShared(t *testing.T) {
	b := newMini(t)
	clk := newFakeClock(b.mr)
	p := prefix(t, b.client)
	mk := func(w bool) *Limiter {
		opts := Options{Prefix: p, Logger: quiet(), Timeout: testTimeout}
		var l *Limiter
		var err error
		if w {
			l, err = NewWindow(b.client, "api", []limit.Rate{limit.PerSecond(100)}, opts)
		} else {
			l, err = NewBucket(b.client, "api", limit.PerSecond(100), opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		l.clock = clk.Now
		return l
	}
	w1, w2, w3 := mk(false), mk(false), mk(true)
	ctx := context.Background()
	ms := time.Millisecond
	if err := w1.PauseUntil(ctx, clk.Now().Add(300*ms)); err != nil {
		t.Fatal(err)
	}
	if err := w1.PauseUntil(ctx, clk.Now().Add(100*ms)); err != nil { // does not shorten
		t.Fatal(err)
	}
	for name, l := range map[string]*Limiter{"pauser": w1, "other bucket": w2, "window": w3} {
		if r, err := l.Allow(ctx, 1); err != nil || r.Allowed || r.RetryAfter != 300*ms {
			t.Errorf("%s during pause: %+v, %v; want denied for 300ms", name, r, err)
		}
	}
	t0 := clk.Now()
	r, err := w2.Reserve(ctx, 1)
	if err != nil || r.At().Sub(t0) != 300*ms {
		t.Errorf("Reserve during pause usable after %v (%v), want 300ms", r.At().Sub(t0), err)
	}
	if ttl := b.mr.TTL(w1.pauseKey[0]); ttl <= 0 || ttl > 301*ms {
		t.Errorf("pause key TTL %v, want in (0, 301ms]", ttl)
	}
	clk.Advance(300 * ms)
	for name, l := range map[string]*Limiter{"pauser": w1, "window": w3} {
		if r, err := l.Allow(ctx, 1); err != nil || !r.Allowed {
			t.Errorf("%s after pause: %+v, %v; want allowed", name, r, err)
		}
	}
	if err := w1.PauseUntil(ctx, clk.Now().Add(-time.Second)); err != nil {
		t.Errorf("pause in the past: %v", err)
	}
}

// TestPauseFromRedisBounded stores hostile pauses in Redis (a year ahead,
// and 9e18 microseconds, which overflowed into a negative wait before the
// bound) and checks that decisions read them as at most MaxPause ahead. It
// failed before pauses were bounded: Reserve without a deadline returned a
// WaitError for 9e18, and Allow's RetryAfter was negative.
func TestPauseFromRedisBounded(t *testing.T) {
	for _, b := range allBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			p := prefix(t, b.client)
			ctx := context.Background()
			for _, stored := range []string{"9000000000000000000", fmtMicros(time.Now().Add(365 * 24 * time.Hour))} {
				for _, w := range []bool{false, true} {
					opts := Options{Prefix: p, Logger: quiet(), Timeout: testTimeout, MaxPause: 2 * time.Second}
					var l *Limiter
					var err error
					if w {
						l, err = NewWindow(b.client, "hostile", []limit.Rate{limit.PerSecond(100)}, opts)
					} else {
						l, err = NewBucket(b.client, "hostile", limit.PerSecond(100), opts)
					}
					if err != nil {
						t.Fatal(err)
					}
					if err := b.client.Set(ctx, l.pauseKey[0], stored, time.Minute).Err(); err != nil {
						t.Fatal(err)
					}
					r, err := l.Allow(ctx, 1)
					if err != nil || r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > 2*time.Second+time.Millisecond {
						t.Errorf("window=%v pause %s: Allow %+v, %v; want refused for at most MaxPause (2s)", w, stored, r, err)
					}
					res, err := l.Reserve(ctx, 1) // no deadline
					if err != nil {
						t.Errorf("window=%v pause %s: Reserve without deadline: %v", w, stored, err)
					} else if d := time.Until(res.At()); d <= 0 || d > 2*time.Second+time.Millisecond {
						t.Errorf("window=%v pause %s: reservation %v ahead, want at most 2s", w, stored, d)
					} else {
						res.Cancel(ctx)
					}
					b.client.Del(ctx, l.Keys()...)
				}
			}
		})
	}
}

func fmtMicros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
