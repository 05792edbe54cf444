package limit

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// queueOrder starts one Wait per entry of prios, in order, each after the
// previous one is queued, and returns the order in which they were granted.
func queueOrder(t *testing.T, l Limiter, prios []Priority, gap time.Duration) []int {
	t.Helper()
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i, p := range prios {
		wg.Go(func() {
			if err := l.Wait(WithPriority(bg, p), 1); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		synctest.Wait() // i is queued before i+1 starts
		time.Sleep(gap)
	}
	wg.Wait()
	return order
}

func limiters(t *testing.T) map[string]func() Limiter {
	return map[string]func() Limiter{
		"bucket": func() Limiter { return mustBucket(t, PerSecond(1)) },
		"window": func() Limiter { return mustWindow(t, PerSecond(1)) },
		"multi": func() Limiter {
			m, _ := NewMulti(mustBucket(t, PerSecond(1)), mustWindow(t, PerMinute(1000)))
			return m
		},
	}
}

func TestWaitFIFOAndPriority(t *testing.T) {
	L, N, H := PriorityLow, PriorityNormal, PriorityHigh
	cases := []struct {
		name  string
		prios []Priority
		gap   time.Duration
		want  []int
	}{
		{"fifo", []Priority{N, N, N, N, N, N}, 0, []int{0, 1, 2, 3, 4, 5}},
		{"high first", []Priority{L, N, L, H, N, H}, 0, []int{3, 5, 1, 4, 0, 2}},
		// Aging, 1s per level: a waiter q levels above another overtakes it
		// only if it arrives less than q seconds after it. Here Normal comes
		// 11s after Low, High 22s after: both too late; a plain priority
		// queue would serve 2, 1, 0.
		{"aging", []Priority{L, N, H}, 11 * time.Second, []int{0, 1, 2}},
		{"aging overtakes", []Priority{L, H, N}, 5 * time.Second, []int{1, 0, 2}},
	}
	for name, mk := range limiters(t) {
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					l := mk()
					if r, _ := l.Allow(bg, 1); !r.Allowed {
						t.Fatal("first unit refused")
					}
					if c.gap > 0 { // keep it empty while the waiters arrive
						_ = l.PauseUntil(bg, time.Now().Add(time.Duration(len(c.prios))*c.gap))
					}
					got := queueOrder(t, l, c.prios, c.gap)
					if !slices.Equal(got, c.want) {
						t.Fatalf("served %v, want %v", got, c.want)
					}
				})
			})
		}
	}
}

func TestCancelledWaiterLeavesQueue(t *testing.T) {
	for name, mk := range limiters(t) {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := mk()
				_, _ = l.Allow(bg, 1)
				ctx, cancel := context.WithCancel(bg)
				errc := make(chan error, 1)
				go func() { errc <- l.Wait(ctx, 1) }()
				synctest.Wait()
				start := time.Now()
				done := make(chan time.Duration, 1)
				go func() {
					if err := l.Wait(bg, 1); err != nil {
						t.Error(err)
					}
					done <- time.Since(start)
				}()
				synctest.Wait()
				cancel()
				if err := <-errc; err != context.Canceled {
					t.Fatalf("cancelled Wait = %v", err)
				}
				// The second waiter gets the unit the first would have had.
				if d := <-done; d != time.Second {
					t.Fatalf("second waiter served after %v, want 1s", d)
				}
				if r, _ := l.Allow(bg, 1); r.Allowed {
					t.Fatal("the cancelled waiter's unit was granted twice")
				}
			})
		})
	}
}

func TestAllowDoesNotOvertakeWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBucket(t, PerSecond(2))
		_, _ = b.Allow(bg, 2)
		w := mustWindow(t, PerSecond(2))
		_, _ = w.Allow(bg, 1)
		time.Sleep(500 * time.Millisecond)
		_, _ = w.Allow(bg, 1)
		var wg sync.WaitGroup
		for _, l := range []Limiter{b, w} {
			wg.Go(func() { _ = l.Wait(bg, 2) }) // bucket: at 1s; window: at 1.5s
		}
		synctest.Wait()
		// One unit is free in each (bucket at 500ms, window at 1s) but the
		// waiter asked first.
		if r, _ := b.Allow(bg, 1); r.Allowed {
			t.Fatalf("bucket: Allow overtook the waiter: %+v", r)
		}
		time.Sleep(500 * time.Millisecond)
		if r, _ := w.Allow(bg, 1); r.Allowed {
			t.Fatalf("window: Allow overtook the waiter: %+v", r)
		}
		wg.Wait()
	})
}
