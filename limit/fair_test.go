package limit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func mustFair(t *testing.T, inner Limiter, rates []Rate, shares map[string]Share) *Fair {
	t.Helper()
	f, err := NewFair(inner, FairOptions{Rates: rates, Share: func(c string) Share { return shares[c] }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// greedy starts k goroutines that take 1 unit as consumer name until ctx
// ends, counting grants.
func greedy(ctx context.Context, wg *sync.WaitGroup, l Limiter, name string, k int, granted *atomic.Int64) {
	cctx := WithConsumer(ctx, name)
	for range k {
		wg.Go(func() {
			for cctx.Err() == nil {
				switch err := l.Wait(cctx, 1); {
				case err == nil:
					granted.Add(1)
				case errors.Is(err, ErrWouldExceedDeadline):
					<-cctx.Done() // no turn before the end
				}
			}
		})
	}
}

// interactiveWaits has one greedy consumer with 1000 requests queued on l
// (a 50/s burst-10 route) and an interactive one sending a request every
// 250ms for 10 s; it returns the interactive waits, sorted.
func interactiveWaits(t *testing.T, newLimiter func() Limiter) []time.Duration {
	var waits []time.Duration
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter()
		ctx, cancel := context.WithCancel(bg)
		var wg sync.WaitGroup
		var batch atomic.Int64
		greedy(ctx, &wg, l, "batch", 1000, &batch)
		synctest.Wait()
		web := WithConsumer(ctx, "web")
		for range 40 {
			time.Sleep(250 * time.Millisecond)
			start := time.Now()
			if err := l.Wait(web, 1); err != nil {
				t.Fatal(err)
			}
			waits = append(waits, time.Since(start))
		}
		cancel()
		wg.Wait()
	})
	slices.Sort(waits)
	return waits
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestFairInteractiveNotStarved: behind 1000 queued requests of a greedy
// consumer, an interactive consumer's wait stays within two intervals of
// the 50/s route (the request being granted, then its own), where one FIFO
// queue makes it wait for the whole backlog. The figures of both runs go to
// docs/benchmarks.md.
func TestFairInteractiveNotStarved(t *testing.T) {
	rate := PerSecond(50).WithBurst(10)
	fifo := interactiveWaits(t, func() Limiter { return mustBucket(t, rate) })
	fair := interactiveWaits(t, func() Limiter { return mustFair(t, mustBucket(t, rate), []Rate{rate}, nil) })
	t.Logf("interactive wait behind 1000 queued batch requests, 50/s burst 10: FIFO p50 %v p99 %v; fair p50 %v p99 %v",
		pct(fifo, 0.5), pct(fifo, 0.99), pct(fair, 0.5), pct(fair, 0.99))
	if p99 := pct(fair, 0.99); p99 > 2*rate.Interval()+time.Millisecond {
		t.Errorf("fair: interactive p99 wait %v, want <= %v", p99, 2*rate.Interval())
	}
	if p50 := pct(fifo, 0.5); p50 < 5*time.Second {
		t.Errorf("FIFO: interactive p50 wait %v; the baseline should show the backlog (>= 5s)", p50)
	}
	// Over a foreign limiter (as Redis), 4 picked requests wait on it at
	// once: the newcomer waits for them, then its own turn.
	foreign := interactiveWaits(t, func() Limiter {
		return mustFair(t, foreignLimiter{mustBucket(t, rate)}, []Rate{rate}, nil)
	})
	t.Logf("over a foreign limiter (InFlight 4): p50 %v p99 %v", pct(foreign, 0.5), pct(foreign, 0.99))
	if p99 := pct(foreign, 0.99); p99 > 5*rate.Interval()+time.Millisecond {
		t.Errorf("foreign: interactive p99 wait %v, want <= %v", p99, 5*rate.Interval())
	}
}

// grants runs the greedy consumers of shares (k goroutines each) on a
// 50/s burst-10 Fair for 10 s and returns what each was granted.
func grants(t *testing.T, shares map[string]Share, names ...string) map[string]int64 {
	rate := PerSecond(50).WithBurst(10)
	got := map[string]int64{}
	synctest.Test(t, func(t *testing.T) {
		f := mustFair(t, mustBucket(t, rate), []Rate{rate}, shares)
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		counts := make([]atomic.Int64, len(names))
		for i, n := range names {
			greedy(ctx, &wg, f, n, 20, &counts[i])
		}
		wg.Wait()
		for i, n := range names {
			got[n] = counts[i].Load()
		}
	})
	return got
}

// TestFairShares: a cap is hard (alone or not, a consumer capped at 0.3
// gets at most 30% of the quota plus its burst of 3), fairness is
// work-conserving (the rest goes to whoever waits), and weights split what
// several greedy consumers get.
func TestFairShares(t *testing.T) {
	const quota = 10 + 50*10 // burst + 10 s at 50/s
	capped := map[string]Share{"batch": {Cap: 0.3}}
	cases := []struct {
		name   string
		shares map[string]Share
		names  []string
		lo, hi map[string]int64
	}{
		{"capped alone", capped, []string{"batch"},
			map[string]int64{"batch": 148}, map[string]int64{"batch": 153}},
		{"uncapped alone", capped, []string{"web"},
			map[string]int64{"web": quota - 2}, map[string]int64{"web": quota}},
		{"capped with another", capped, []string{"batch", "web"},
			map[string]int64{"batch": 140, "web": quota - 153}, map[string]int64{"batch": 153, "web": quota - 140}},
		{"equal weights", nil, []string{"a", "b"},
			map[string]int64{"a": quota/2 - 12, "b": quota/2 - 12}, map[string]int64{"a": quota/2 + 12, "b": quota/2 + 12}},
		{"weights 1 and 3", map[string]Share{"b": {Weight: 3}}, []string{"a", "b"},
			map[string]int64{"a": quota/4 - 12, "b": quota*3/4 - 12}, map[string]int64{"a": quota/4 + 12, "b": quota*3/4 + 12}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := grants(t, c.shares, c.names...)
			t.Logf("granted in 10 s: %v", got)
			for _, n := range c.names {
				if got[n] < c.lo[n] || got[n] > c.hi[n] {
					t.Errorf("%s granted %d, want %d..%d", n, got[n], c.lo[n], c.hi[n])
				}
			}
		})
	}
}

// TestFairDeadline: a request whose turn cannot come by its deadline is
// refused at once, with a *CapError when the consumer's cap is why.
func TestFairDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rate := PerSecond(50).WithBurst(10)
		f := mustFair(t, mustBucket(t, rate), []Rate{rate}, map[string]Share{"batch": {Cap: 0.1}})
		ctx, cancel := context.WithCancel(bg)
		var wg sync.WaitGroup
		var n atomic.Int64
		greedy(ctx, &wg, f, "batch", 10, &n) // 5/s, burst 1: 10 queued need 2 s
		greedy(ctx, &wg, f, "web", 100, &n)  // 100 queued need 2 s
		time.Sleep(time.Second)
		synctest.Wait()
		cases := []struct {
			consumer string
			wait     time.Duration
			capErr   bool
		}{
			{"batch", 500 * time.Millisecond, true},
			{"web", 100 * time.Millisecond, false},
		}
		for _, c := range cases {
			dctx, dcancel := context.WithTimeout(WithConsumer(bg, c.consumer), c.wait)
			start := time.Now()
			err := f.Wait(dctx, 1)
			dcancel()
			var ce *CapError
			var we *WaitError
			switch {
			case !errors.Is(err, ErrWouldExceedDeadline) || !errors.As(err, &we):
				t.Errorf("%s: err %v, want a *WaitError", c.consumer, err)
			case errors.As(err, &ce) != c.capErr:
				t.Errorf("%s: err %v (%T): CapError %v, want %v", c.consumer, err, err, !c.capErr, c.capErr)
			case time.Since(start) != 0:
				t.Errorf("%s: refused after %v, want at once", c.consumer, time.Since(start))
			case we.Wait <= c.wait:
				t.Errorf("%s: reported wait %v, not past the deadline %v", c.consumer, we.Wait, c.wait)
			}
		}
		// A deadline that allows the consumer's turn is kept.
		dctx, dcancel := context.WithTimeout(WithConsumer(bg, "newcomer"), 200*time.Millisecond)
		if err := f.Wait(dctx, 1); err != nil {
			t.Errorf("newcomer: %v", err)
		}
		dcancel()
		cancel()
		wg.Wait()
	})
}

// foreignLimiter hides a Bucket's package-internal methods, as a
// limit/redislimit limiter would.
type foreignLimiter struct{ b *Bucket }

func (l foreignLimiter) Allow(ctx context.Context, n int64) (Result, error) { return l.b.Allow(ctx, n) }
func (l foreignLimiter) Reserve(ctx context.Context, n int64) (*Reservation, error) {
	return l.b.Reserve(ctx, n)
}
func (l foreignLimiter) Wait(ctx context.Context, n int64) error { return l.b.Wait(ctx, n) }
func (l foreignLimiter) PauseUntil(ctx context.Context, t time.Time) error {
	return l.b.PauseUntil(ctx, t)
}
func (l foreignLimiter) SetRate(ctx context.Context, r Rate) error { return l.b.SetRate(ctx, r) }

// TestFairForeign: over a foreign inner limiter with a foreign cap (as
// with Redis), the cap still holds and the rest of the rate is used.
func TestFairForeign(t *testing.T) {
	rate := PerSecond(50).WithBurst(10)
	synctest.Test(t, func(t *testing.T) {
		var made []Rate
		f, err := NewFair(foreignLimiter{mustBucket(t, rate)}, FairOptions{
			Rates: []Rate{rate},
			Share: func(c string) Share { return map[string]Share{"batch": {Cap: 0.3}}[c] },
			NewCap: func(_ string, rs []Rate) (Limiter, error) {
				made = append(made, rs...)
				b, err := NewBucket(rs[0])
				return foreignLimiter{b}, err
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var batch, web atomic.Int64
		greedy(ctx, &wg, f, "batch", 20, &batch)
		greedy(ctx, &wg, f, "web", 20, &web)
		wg.Wait()
		t.Logf("batch %d web %d, cap rates %v", batch.Load(), web.Load(), made)
		if len(made) != 1 || made[0] != ScaleRate(rate, 0.3) || made[0].Burst != 3 {
			t.Errorf("cap rates %v, want 15/s burst 3", made)
		}
		if b := batch.Load(); b < 140 || b > 153 {
			t.Errorf("batch granted %d, want 140..153", b)
		}
		if w := web.Load(); w < 340 {
			t.Errorf("web granted %d, want >= 340", w)
		}
	})
}

// TestFairAllowReserveCancel: Allow refuses while anyone waits and obeys
// the cap; a waiter that gives up leaves the queue and the next is served.
func TestFairAllowReserveCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rate := PerSecond(10).WithBurst(1)
		f := mustFair(t, mustBucket(t, rate), []Rate{rate}, map[string]Share{"batch": {Cap: 0.5}})
		batch := WithConsumer(bg, "batch")
		if r, err := f.Allow(batch, 1); err != nil || !r.Allowed {
			t.Fatalf("first Allow: %+v %v", r, err)
		}
		time.Sleep(100 * time.Millisecond) // the route has a unit again, the cap (5/s) not yet
		if r, err := f.Allow(batch, 1); err != nil || r.Allowed {
			t.Fatalf("Allow over the cap: %+v %v", r, err)
		}
		if r, err := f.Allow(WithConsumer(bg, "web"), 1); err != nil || !r.Allowed {
			t.Fatalf("web Allow: %+v %v", r, err)
		}
		res, err := f.Reserve(batch, 1)
		if err != nil || time.Until(res.At()) <= 0 {
			t.Fatalf("Reserve: %v %v", res, err)
		}
		res.Cancel(bg)

		ctx, cancel := context.WithCancel(batch)
		done := make(chan error, 2)
		go func() { done <- f.Wait(ctx, 1) }()
		go func() { done <- f.Wait(WithConsumer(bg, "web"), 1) }()
		synctest.Wait()
		if r, _ := f.Allow(WithConsumer(bg, "other"), 1); r.Allowed {
			t.Error("Allow granted while others wait")
		}
		cancel()
		for range 2 {
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Error(err)
			}
		}
	})
}

func TestNewFairErrors(t *testing.T) {
	b := mustBucket(t, PerSecond(1))
	cases := []struct {
		name  string
		inner Limiter
		o     FairOptions
		share Share
	}{
		{"nil inner", nil, FairOptions{}, Share{}},
		{"bad rate", b, FairOptions{Rates: []Rate{{Count: 1}}}, Share{}},
		{"cap without rates", b, FairOptions{}, Share{Cap: 0.5}},
		{"cap over 1", b, FairOptions{Rates: []Rate{PerSecond(1)}}, Share{Cap: 1.5}},
		{"negative weight", b, FairOptions{Rates: []Rate{PerSecond(1)}}, Share{Weight: -1}},
		{"negative in-flight", b, FairOptions{InFlight: -1}, Share{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.Share = func(string) Share { return c.share }
			f, err := NewFair(c.inner, c.o)
			if err == nil {
				err = f.Wait(bg, 1)
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
		})
	}
}

func TestScaleRate(t *testing.T) {
	cases := []struct {
		r     Rate
		share float64
		iv    time.Duration
		burst int64
	}{
		{PerSecond(50).WithBurst(10), 0.3, time.Second / 15, 3},
		{PerSecond(49).WithBurst(9), 0.3, 68027210, 2},
		{PerMinute(1), 0.1, 10 * time.Minute, 1},
		{PerSecond(10), 1, 100 * time.Millisecond, 10},
	}
	for _, c := range cases {
		got := ScaleRate(c.r, c.share)
		if d := got.Interval() - c.iv; d < -time.Microsecond || d > time.Microsecond || got.BurstOrCount() != c.burst {
			t.Errorf("ScaleRate(%v, %g) = %v (interval %v), want interval %v burst %d", c.r, c.share, got, got.Interval(), c.iv, c.burst)
		}
	}
}

// BenchmarkFairWait is the cost Fair adds to a Wait that is granted at
// once (an unlimited inner Bucket), alone and from parallel callers, who
// then take turns on the inner limiter.
func BenchmarkFairWait(b *testing.B) {
	for _, name := range []string{"bucket", "fair"} {
		newL := func() Limiter {
			inner, _ := NewBucket(Inf)
			if name == "bucket" {
				return inner
			}
			f, _ := NewFair(inner, FairOptions{})
			return f
		}
		ctx := WithConsumer(bg, "web")
		b.Run(name, func(b *testing.B) {
			l := newL()
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Wait(ctx, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			l := newL()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Wait(ctx, 1); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
