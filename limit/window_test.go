package limit

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func mustWindow(t *testing.T, r Rate, opts ...Option) *Window {
	t.Helper()
	w, err := NewWindow(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

type stamp struct {
	at time.Time
	n  int64
}

// maxInWindow returns the most units granted in any interval (t-w, t].
func maxInWindow(grants []stamp, w time.Duration) int64 {
	slices.SortFunc(grants, func(a, b stamp) int { return a.at.Compare(b.at) })
	var best, sum int64
	lo := 0
	for hi := range grants {
		sum += grants[hi].n
		for !grants[lo].at.After(grants[hi].at.Add(-w)) {
			sum -= grants[lo].n
			lo++
		}
		best = max(best, sum)
	}
	return best
}

func TestWindowStrictUnder16Goroutines(t *testing.T) {
	cases := []struct {
		rate Rate
		wait bool
	}{
		{PerSecond(10), false},
		{PerSecond(10), true},
		{PerMinute(100), false},
		{PerMinute(100), true},
		{Rate{Count: 7, Period: 300 * time.Millisecond}, true},
	}
	for _, c := range cases {
		name := c.rate.String()
		if c.wait {
			name += "/wait"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := mustWindow(t, c.rate)
				var mu sync.Mutex
				var grants []stamp
				var wg sync.WaitGroup
				for g := range 16 {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(uint64(g), 1))
						for range 200 {
							time.Sleep(time.Duration(rng.Int64N(int64(c.rate.Period) / 20)))
							n := 1 + rng.Int64N(min(5, c.rate.Count))
							ok := false
							if c.wait {
								ok = w.Wait(bg, n) == nil
							} else {
								r, err := w.Allow(bg, n)
								if err != nil {
									t.Error(err)
									return
								}
								ok = r.Allowed
							}
							if ok {
								mu.Lock()
								grants = append(grants, stamp{time.Now(), n})
								mu.Unlock()
							}
						}
					})
				}
				wg.Wait()
				if got := maxInWindow(grants, c.rate.Period); got > c.rate.Count {
					t.Fatalf("%d units in one window, limit %d", got, c.rate.Count)
				} else if got < c.rate.Count-4 {
					t.Fatalf("at most %d units in any window: the limiter is too strict (limit %d)", got, c.rate.Count)
				}
				if len(grants) < 20 {
					t.Fatalf("only %d grants", len(grants))
				}
			})
		})
	}
}

func TestWindowExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := mustWindow(t, PerSecond(5))
		r, _ := w.Allow(bg, 3)
		if !r.Allowed || r.Remaining != 2 || r.ResetAfter != time.Second {
			t.Fatalf("first: %+v", r)
		}
		time.Sleep(400 * time.Millisecond)
		if r, _ := w.Allow(bg, 2); !r.Allowed || r.Remaining != 0 {
			t.Fatalf("second: %+v", r)
		}
		r, _ = w.Allow(bg, 1)
		if r.Allowed || r.RetryAfter != 600*time.Millisecond {
			t.Fatalf("sixth unit: %+v, want refused for 600ms", r)
		}
		r, _ = w.Allow(bg, 4)
		if r.Allowed || r.RetryAfter != time.Second {
			t.Fatalf("4 units: %+v, want refused for 1s", r)
		}
		time.Sleep(600*time.Millisecond - time.Nanosecond)
		if got := drain(t, w); got != 0 {
			t.Fatalf("%d granted 1ns early", got)
		}
		time.Sleep(time.Nanosecond)
		if got := drain(t, w); got != 3 {
			t.Fatalf("%d granted when the first 3 left, want 3", got)
		}
		if _, err := w.Allow(bg, 6); !errors.Is(err, ErrCostExceedsBurst) {
			t.Fatalf("cost 6 of 5: %v", err)
		}
		if _, err := w.Allow(bg, 0); !errors.Is(err, ErrBadCost) {
			t.Fatalf("cost 0: %v", err)
		}
	})
}

func TestWindowWaitAndDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := mustWindow(t, PerSecond(2))
		_, _ = w.Allow(bg, 2)
		ctx, cancel := context.WithTimeout(bg, 999*time.Millisecond)
		defer cancel()
		if err := w.Wait(ctx, 1); !errors.Is(err, ErrWouldExceedDeadline) {
			t.Fatalf("Wait = %v", err)
		}
		start := time.Now()
		if err := w.Wait(bg, 2); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el != time.Second {
			t.Fatalf("waited %v", el)
		}
	})
}

func TestWindowReserveCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := mustWindow(t, PerSecond(4))
		_, _ = w.Allow(bg, 4)
		r1, _ := w.Reserve(bg, 2)
		r2, _ := w.Reserve(bg, 2)
		if d := r1.At().Sub(time.Now()); d != time.Second {
			t.Fatalf("r1 +%v", d)
		}
		if d := r2.At().Sub(time.Now()); d != time.Second {
			t.Fatalf("r2 +%v", d)
		}
		r3, _ := w.Reserve(bg, 1)
		if d := r3.At().Sub(time.Now()); d != 2*time.Second {
			t.Fatalf("r3 +%v, want 2s", d)
		}
		r1.Cancel(bg)
		r3.Cancel(bg)
		time.Sleep(time.Second)
		if got := drain(t, w); got != 2 {
			t.Fatalf("after cancel %d free, want 2", got)
		}
	})
}

func TestWindowPauseAndSetRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := mustWindow(t, PerMinute(10))
		_, _ = w.Allow(bg, 4)
		_ = w.PauseUntil(bg, time.Now().Add(time.Second))
		if r, _ := w.Allow(bg, 1); r.Allowed || r.RetryAfter != time.Second {
			t.Fatalf("paused: %+v", r)
		}
		time.Sleep(time.Second)
		// SetRate keeps the 4 already granted.
		if err := w.SetRate(bg, PerMinute(5)); err != nil {
			t.Fatal(err)
		}
		if got := drain(t, w); got != 1 {
			t.Fatalf("after SetRate 5/min: %d, want 1", got)
		}
		if w.Rate() != PerMinute(5) {
			t.Fatalf("Rate = %v", w.Rate())
		}
	})
}
