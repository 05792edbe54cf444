package limit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// foreign hides a Bucket behind a type this package does not know, so a
// Multi treats it as it would a Redis limiter.
type foreign struct{ Limiter }

func TestMultiAllOrNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		perSec := mustBucket(t, PerSecond(10))
		perMin := mustWindow(t, PerMinute(3))
		perDay := mustBucket(t, Rate{Count: 1000, Period: 24 * time.Hour})
		m, err := NewMulti(perSec, perMin, foreign{perDay})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if r, err := m.Allow(bg, 1); err != nil || !r.Allowed {
				t.Fatalf("request %d refused: %+v %v", i, r, err)
			}
		}
		for range 5 {
			r, _ := m.Allow(bg, 1)
			if r.Allowed || r.RetryAfter != time.Minute {
				t.Fatalf("4th request: %+v, want refused for 1m", r)
			}
		}
		if err := m.Wait(ctxTimeout(t, time.Second), 1); !errors.Is(err, ErrWouldExceedDeadline) {
			t.Fatalf("Wait = %v", err)
		}
		// The refusals took nothing from the per-second bucket or the daily one.
		if got := drain(t, perSec); got != 7 {
			t.Fatalf("per-second bucket has %d, want 7", got)
		}
		if got := drain(t, perDay); got != 997 {
			t.Fatalf("daily bucket has %d, want 997", got)
		}
		// A refusal by the last (foreign) member undoes the local grants.
		time.Sleep(time.Minute)
		if r, _ := m.Allow(bg, 1); r.Allowed {
			t.Fatalf("allowed with an empty daily bucket: %+v", r)
		}
		if got := drain(t, perMin); got != 3 {
			t.Fatalf("window has %d, want 3 (grant undone)", got)
		}
	})
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(bg, d)
	t.Cleanup(cancel)
	return ctx
}

func TestMultiWaitAndReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := mustBucket(t, PerSecond(2))
		b := mustWindow(t, Rate{Count: 3, Period: 10 * time.Second})
		m, _ := NewMulti(a, b)
		start := time.Now()
		var mu sync.Mutex
		var times []time.Duration
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				if err := m.Wait(bg, 1); err != nil {
					t.Error(err)
				}
				mu.Lock()
				times = append(times, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		// 2 at once (bucket burst), the 3rd at 500ms; then the window is
		// full until its grants leave it at 10s and 10.5s.
		ms := time.Millisecond
		want := []time.Duration{0, 0, 500 * ms, 10 * time.Second, 10 * time.Second, 10500 * ms}
		for i := range want {
			if times[i] != want[i] {
				t.Fatalf("grant times %v, want %v", times, want)
			}
		}
		r, err := m.Reserve(bg, 1)
		if err != nil || r.At().Sub(time.Now()) != 9500*ms {
			t.Fatalf("Reserve at +%v, %v", r.At().Sub(time.Now()), err)
		}
		r.Cancel(bg)
		if err := m.SetRate(bg, Rate{Count: 6, Period: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
		if got := b.Rate().Count; got != 6 {
			t.Fatalf("window count %d after SetRate", got)
		}
		if err := m.SetRate(bg, PerHour(1)); err == nil {
			t.Fatal("SetRate with no matching period succeeded")
		}
		if _, err := NewMulti(); err == nil {
			t.Fatal("empty Multi accepted")
		}
		if _, err := NewMulti(a, nil); err == nil {
			t.Fatal("nil member accepted")
		}
		// The window (first) grants 3, the bucket (burst 2) fails: undone.
		time.Sleep(20 * time.Second)
		m2, _ := NewMulti(b, a)
		if _, err := m2.Allow(bg, 3); !errors.Is(err, ErrCostExceedsBurst) {
			t.Fatalf("cost above the bucket's burst: %v", err)
		}
		if got := drain(t, b); got != 6 {
			t.Fatalf("window has %d after the failed cost, want 6", got)
		}
	})
}
