package limit

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

var bg = context.Background()

func mustBucket(t *testing.T, r Rate, opts ...Option) *Bucket {
	t.Helper()
	b, err := NewBucket(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// drain takes single units until refused and returns how many it took.
func drain(t *testing.T, l Limiter) int64 {
	t.Helper()
	var got int64
	for i := 0; i < 1_000_000; i++ {
		r, err := l.Allow(bg, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Allowed {
			if r.RetryAfter <= 0 {
				t.Fatalf("refused with RetryAfter %v", r.RetryAfter)
			}
			return got
		}
		got++
	}
	t.Fatal("never refused")
	return got
}

func TestBucketAdmitsBurstPlusRateTimesT(t *testing.T) {
	cases := []struct {
		rate Rate
		over time.Duration
		step time.Duration
		want int64
	}{
		{PerSecond(10), 3 * time.Second, time.Millisecond, 10 + 30},
		{PerSecond(10).WithBurst(1), 3 * time.Second, 5 * time.Millisecond, 1 + 30},
		{PerMinute(100).WithBurst(5), 2 * time.Minute, 100 * time.Millisecond, 5 + 200},
		{Rate{Count: 1000, Period: time.Second, Burst: 50}, time.Second, 250 * time.Microsecond, 50 + 1000},
		{Rate{Count: 3, Period: time.Second}, 10 * time.Second, 10 * time.Millisecond, 3 + 29}, // interval rounded up: 333333334ns
	}
	for _, c := range cases {
		t.Run(c.rate.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustBucket(t, c.rate)
				got := drain(t, b)
				for el := time.Duration(0); el < c.over; el += c.step {
					time.Sleep(c.step)
					got += drain(t, b)
				}
				if got != c.want {
					t.Fatalf("admitted %d over %v, want %d", got, c.over, c.want)
				}
			})
		})
	}
}

func TestBucketResultFields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBucket(t, PerSecond(10)) // 100ms per unit, burst 10
		r, _ := b.Allow(bg, 4)
		if !r.Allowed || r.Remaining != 6 || r.ResetAfter != 400*time.Millisecond {
			t.Fatalf("first: %+v", r)
		}
		r, _ = b.Allow(bg, 7)
		if r.Allowed || r.RetryAfter != 100*time.Millisecond || r.ResetAfter != 400*time.Millisecond {
			t.Fatalf("refused: %+v", r)
		}
	})
}

func TestBucketCostErrors(t *testing.T) {
	b := mustBucket(t, PerSecond(10))
	cases := []struct {
		n    int64
		want error
	}{{0, ErrBadCost}, {-1, ErrBadCost}, {11, ErrCostExceedsBurst}, {math.MaxInt64, ErrCostExceedsBurst}}
	for _, c := range cases {
		if _, err := b.Allow(bg, c.n); !errors.Is(err, c.want) {
			t.Errorf("Allow(%d) = %v, want %v", c.n, err, c.want)
		}
		if err := b.Wait(bg, c.n); !errors.Is(err, c.want) {
			t.Errorf("Wait(%d) = %v, want %v", c.n, err, c.want)
		}
		if _, err := b.Reserve(bg, c.n); !errors.Is(err, c.want) {
			t.Errorf("Reserve(%d) = %v, want %v", c.n, err, c.want)
		}
	}
}

func TestBucketInf(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBucket(t, Inf)
		for range 1000 {
			if r, err := b.Allow(bg, 1<<40); err != nil || !r.Allowed {
				t.Fatalf("inf refused: %+v %v", r, err)
			}
		}
		_ = b.PauseUntil(bg, time.Now().Add(time.Second))
		if r, _ := b.Allow(bg, 1); r.Allowed || r.RetryAfter != time.Second {
			t.Fatalf("paused inf: %+v", r)
		}
		time.Sleep(time.Second)
		if r, _ := b.Allow(bg, 1); !r.Allowed {
			t.Fatalf("after pause: %+v", r)
		}
	})
}

func TestWaitRefusesAtOncePastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBucket(t, PerSecond(1))
		_, _ = b.Allow(bg, 1)
		ctx, cancel := context.WithTimeout(bg, 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := b.Wait(ctx, 1)
		var we *WaitError
		if !errors.As(err, &we) || !errors.Is(err, ErrWouldExceedDeadline) || we.Wait != time.Second {
			t.Fatalf("Wait = %v, want WaitError of 1s", err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("slept %v before refusing", time.Since(start))
		}
		if _, err := b.Reserve(ctx, 1); !errors.Is(err, ErrWouldExceedDeadline) {
			t.Fatalf("Reserve = %v", err)
		}
		// Nothing was claimed: at 1s exactly one unit is there.
		time.Sleep(time.Second)
		if got := drain(t, b); got != 1 {
			t.Fatalf("after refusals %d units, want 1", got)
		}
	})
}

func TestWaitGrantsInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBucket(t, PerSecond(10).WithBurst(1))
		start := time.Now()
		for range 5 {
			if err := b.Wait(bg, 1); err != nil {
				t.Fatal(err)
			}
		}
		if el := time.Since(start); el != 400*time.Millisecond {
			t.Fatalf("5 units took %v, want 400ms", el)
		}
	})
}

func TestReserveCancelReturnsUnits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBucket(t, PerSecond(10)) // burst 10
		drain(t, b)
		r1, err := b.Reserve(bg, 3)
		if err != nil || r1.At().Sub(time.Now()) != 300*time.Millisecond {
			t.Fatalf("r1 at %v, %v", r1.At().Sub(time.Now()), err)
		}
		r2, _ := b.Reserve(bg, 2)
		if d := r2.At().Sub(time.Now()); d != 500*time.Millisecond {
			t.Fatalf("r2 at +%v, want 500ms", d)
		}
		r1.Cancel(bg)
		r1.Cancel(bg) // second call does nothing
		// r1's 3 units are back: a new reservation of 3 lands where r2's 2 end minus r1's 3.
		r3, _ := b.Reserve(bg, 3)
		if d := r3.At().Sub(time.Now()); d != 500*time.Millisecond {
			t.Fatalf("r3 at +%v, want 500ms", d)
		}
		r3.Cancel(bg)
		r2.Cancel(bg)
		time.Sleep(time.Nanosecond)
		if got := drain(t, b); got != 0 {
			t.Fatalf("%d units free right after, want 0", got)
		}
		time.Sleep(100 * time.Millisecond)
		if got := drain(t, b); got != 1 {
			t.Fatalf("got %d, want 1 (all reservations returned)", got)
		}
		// A reservation already due is not refunded.
		time.Sleep(time.Second)
		drain(t, b)
		time.Sleep(100 * time.Millisecond)
		r4, _ := b.Reserve(bg, 1)
		time.Sleep(time.Millisecond)
		r4.Cancel(bg)
		if got := drain(t, b); got != 0 {
			t.Fatalf("used reservation refunded: %d", got)
		}
	})
}

func TestBucketSetRateKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBucket(t, PerSecond(10)) // 100ms/unit
		if r, _ := b.Allow(bg, 10); !r.Allowed {
			t.Fatal("burst refused")
		}
		// 10 units spent; at 100/s they are earned back in 100ms, not at once.
		if err := b.SetRate(bg, PerSecond(100)); err != nil {
			t.Fatal(err)
		}
		if got := drain(t, b); got != 90 {
			t.Fatalf("after SetRate up: %d free, want 90 (10 of 100 still spent)", got)
		}
		if b.Rate() != PerSecond(100) {
			t.Fatalf("Rate = %v", b.Rate())
		}
		if err := b.SetRate(bg, Rate{Count: 0}); err == nil {
			t.Fatal("bad rate accepted")
		}
		// Empty bucket; at 1/s it stays empty, then earns 1/s.
		_ = b.SetRate(bg, PerSecond(1))
		time.Sleep(999 * time.Millisecond)
		if got := drain(t, b); got != 0 {
			t.Fatalf("got %d before 1s", got)
		}
		time.Sleep(time.Millisecond)
		if got := drain(t, b); got != 1 {
			t.Fatalf("got %d at 1s, want 1", got)
		}
	})
}

func TestBucketPauseUntil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBucket(t, PerSecond(10))
		until := time.Now().Add(2 * time.Second)
		_ = b.PauseUntil(bg, until)
		_ = b.PauseUntil(bg, time.Now().Add(time.Second)) // never shortens
		r, _ := b.Allow(bg, 1)
		if r.Allowed || r.RetryAfter != 2*time.Second {
			t.Fatalf("paused: %+v", r)
		}
		_ = b.SetRate(bg, PerSecond(1000)) // a rate change keeps the pause
		time.Sleep(2*time.Second - time.Nanosecond)
		if got := drain(t, b); got != 0 {
			t.Fatalf("granted %d before the pause ended", got)
		}
		time.Sleep(time.Nanosecond)
		if got := drain(t, b); got != 1 {
			t.Fatalf("at the pause end %d, want 1 (restart nearly empty)", got)
		}
		// A waiter blocked by the pause is released at its end.
		_ = b.PauseUntil(bg, time.Now().Add(time.Hour))
		start := time.Now()
		if err := b.Wait(bg, 1); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el != time.Hour {
			t.Fatalf("waited %v, want 1h", el)
		}
	})
}

func TestBucketSetRateInfAndPastPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustBucket(t, PerSecond(10))
		_ = b.PauseUntil(bg, time.Now().Add(-time.Second)) // in the past: no effect
		if got := drain(t, b); got != 10 {
			t.Fatalf("after a past pause %d free, want 10", got)
		}
		_ = b.SetRate(bg, Inf) // the debt does not survive as a pause
		if r, _ := b.Allow(bg, 1); !r.Allowed {
			t.Fatalf("Inf after debt refused: %+v", r)
		}
		_ = b.PauseUntil(bg, time.Now().Add(time.Second))
		_ = b.SetRate(bg, PerSecond(10)) // but a pause does
		if r, _ := b.Allow(bg, 1); r.Allowed || r.RetryAfter != time.Second {
			t.Fatalf("pause lost by SetRate from Inf: %+v", r)
		}
	})
}
