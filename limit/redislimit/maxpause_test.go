package redislimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// TestPauseKeyBounded is the regression test of defect 11 (issue 11): a
// pause key far in the future (written by another process, or left there)
// blocked for days, and 9000000000000000000 overflowed into a negative
// wait reported as "past the request's deadline" for a request with no
// deadline. Now a pause read from Redis counts for at most MaxPause. It
// fails before the fix (waits of years, and a negative one).
func TestPauseKeyBounded(t *testing.T) {
	b := newMini(t)
	clk := newFakeClock(b.mr)
	p := prefix(t, b.client)
	now := clk.Now().UnixMicro()
	for _, v := range []int64{now + int64(30*24*time.Hour/time.Microsecond), 9000000000000000000} {
		for _, window := range []bool{false, true} {
			opts := Options{Prefix: p, Logger: quiet(), Timeout: testTimeout, MaxPause: 2 * time.Second}
			var l *Limiter
			var err error
			if window {
				l, err = NewWindow(b.client, "api", []limit.Rate{limit.PerSecond(100)}, opts)
			} else {
				l, err = NewBucket(b.client, "api", limit.PerSecond(100), opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			l.clock = clk.Now
			b.mr.Set(l.pauseKey[0], strconv.FormatInt(v, 10))
			r, err := l.Allow(context.Background(), 1)
			if err != nil || r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > 2*time.Second {
				t.Errorf("pause key %d, window %v: Allow = %+v, %v; want denied for at most 2s", v, window, r, err)
			}
			res, err := l.Reserve(context.Background(), 1)
			if err != nil {
				t.Errorf("pause key %d, window %v: Reserve without deadline: %v", v, window, err)
				continue
			}
			if w := res.At().Sub(clk.Now()); w <= 0 || w > 2*time.Second {
				t.Errorf("pause key %d, window %v: reservation in %v, want at most 2s", v, window, w)
			}
			res.Cancel(context.Background())
		}
	}
}

// TestPauseUntilBounded checks that PauseUntil pauses for at most MaxPause.
func TestPauseUntilBounded(t *testing.T) {
	b := newMini(t)
	clk := newFakeClock(b.mr)
	l, err := NewBucket(b.client, "api", limit.PerSecond(100), Options{Prefix: prefix(t, b.client), Logger: quiet(), Timeout: testTimeout, MaxPause: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l.clock = clk.Now
	if err := l.PauseUntil(context.Background(), clk.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r, _ := l.Allow(context.Background(), 1); r.Allowed || r.RetryAfter > time.Second {
		t.Fatalf("after PauseUntil(+24h) with MaxPause 1s: %+v", r)
	}
}
