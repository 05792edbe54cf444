package limit

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/min", "5000/h", "10/s", "10/2s", "1000/day", "5/minute", "inf", "10/s,burst=20",
		"1/1m30s", "10/x", "/s", "-1/s", "9223372036854775807/ns", "1/9223372036854775807d", "10/0s", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "limit: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRate(%q) = %+v, invalid: %v", s, r, err)
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %+v; String %q parses to %+v, %v", s, r, r.String(), back, err)
		}
	})
}

// fakeNow is a Clock whose time the fuzz target sets directly.
type fakeNow struct{ t time.Time }

func (c *fakeNow) Now() time.Time { return c.t }

// FuzzBucketArithmetic drives a Bucket with arbitrary rates, costs and time
// steps (huge rates, tiny periods, huge costs, pauses far away) and checks
// that nothing overflows: no negative waits or remaining counts, refusals
// always say when to come back, and grants never exceed burst + elapsed/T.
func FuzzBucketArithmetic(f *testing.F) {
	f.Add(int64(10), int64(time.Second), int64(0), int64(1), int64(time.Millisecond), int64(0))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(1), int64(math.MaxInt64))
	f.Add(int64(1), int64(1), int64(1), int64(1), int64(math.MaxInt64), int64(math.MinInt64))
	f.Add(int64(1_000_000_000), int64(time.Second), int64(1<<40), int64(1<<39), int64(3), int64(time.Hour))
	f.Fuzz(func(t *testing.T, count, period, burst, n, step, pause int64) {
		clk := &fakeNow{t: time.Unix(1e9, 0)}
		b, err := NewBucket(Rate{Count: count, Period: time.Duration(period), Burst: burst}, WithClock(clk))
		if err != nil {
			return
		}
		ctx := context.Background()
		c := b.cfg.Load()
		start := clk.t
		var granted int64
		for i := range 50 {
			if i == 25 {
				_ = b.PauseUntil(ctx, clk.t.Add(time.Duration(pause)))
			}
			r, err := b.Allow(ctx, n)
			if err != nil {
				if !errors.Is(err, ErrBadCost) && !errors.Is(err, ErrCostExceedsBurst) {
					t.Fatalf("Allow(%d): %v", n, err)
				}
				return
			}
			if r.RetryAfter < 0 || r.ResetAfter < 0 || r.Remaining < 0 {
				t.Fatalf("negative result %+v (rate %+v, n %d)", r, b.Rate(), n)
			}
			if !r.Allowed && r.RetryAfter <= 0 {
				t.Fatalf("refused without a wait: %+v", r)
			}
			if r.Allowed {
				granted += n
				if c.t > 0 && i < 25 {
					el := int64(clk.t.Sub(start))
					if limit := c.burst + el/c.t; granted > limit && granted > 0 {
						t.Fatalf("granted %d > burst %d + %dns/%dns", granted, c.burst, el, c.t)
					}
				}
			}
			res, err := b.Reserve(ctx, n)
			if err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			if d := res.At().Sub(clk.t); d < 0 {
				t.Fatalf("reservation in the past: %v", d)
			}
			res.Cancel(ctx)
			if step > 0 {
				clk.t = clk.t.Add(time.Duration(min(step, int64(time.Hour*24*365))))
			}
		}
	})
}

// FuzzWindowStrict drives a Window with arbitrary costs and time steps,
// granting through Allow and Reserve, and checks that no interval of length
// Period ever holds more than Count units.
func FuzzWindowStrict(f *testing.F) {
	f.Add(int64(5), int64(time.Second), []byte{1, 2, 3, 200, 4, 5, 90, 1, 1, 1})
	f.Add(int64(1), int64(1), []byte{0, 0, 0, 255})
	f.Add(int64(100), int64(time.Minute), []byte{50, 50, 50, 10, 99, 1})
	f.Fuzz(func(t *testing.T, count, period int64, ops []byte) {
		count = max(1, min(count, 1000))
		clk := &fakeNow{t: time.Unix(1e9, 0)}
		w, err := NewWindow(Rate{Count: count, Period: time.Duration(period)}, WithClock(clk))
		if err != nil {
			return
		}
		ctx := context.Background()
		var grants []stamp
		for i, op := range ops {
			n := 1 + int64(op)%count
			switch {
			case op%7 == 0: // a reservation, sometimes cancelled before it is due
				r, err := w.Reserve(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				if op%2 == 0 {
					r.Cancel(ctx)
				} else {
					grants = append(grants, stamp{r.At(), n})
				}
			default:
				r, err := w.Allow(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				if r.Allowed {
					grants = append(grants, stamp{clk.t, n})
				} else if r.RetryAfter <= 0 {
					t.Fatalf("refused without a wait: %+v", r)
				}
			}
			if i%3 == 0 {
				clk.t = clk.t.Add(time.Duration(op) * time.Duration(max(period, 1)) / 64)
			}
		}
		if got := maxInWindow(grants, time.Duration(period)); got > count {
			t.Fatalf("%d units in one window of %v, limit %d", got, time.Duration(period), count)
		}
	})
}
