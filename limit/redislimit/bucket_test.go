package redislimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/limit"
)

// newTestBucket builds a bucket on b with a unique prefix; on miniredis its
// clock is the returned fake clock.
func newTestBucket(t *testing.T, b backend, r limit.Rate, opts Options) (*Limiter, *fakeClock) {
	t.Helper()
	opts.Prefix = prefix(t, b.client)
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	l, err := NewBucket(b.client, "bucket", r, opts)
	if err != nil {
		t.Fatal(err)
	}
	var clk *fakeClock
	if b.mr != nil {
		clk = newFakeClock(b.mr)
		l.clock = clk.Now
	}
	return l, clk
}

// TestBucketSequence walks GCRA through burst, denial, refill and weighted
// cost on the fake clock: 50/s, burst 10, so T = 20ms and tau = 200ms.
func TestBucketSequence(t *testing.T) {
	l, clk := newTestBucket(t, newMini(t), limit.PerSecond(50).WithBurst(10), Options{})
	ms := time.Millisecond
	steps := []struct {
		advance   time.Duration
		n         int64
		want      limit.Result
		ttlAtMost time.Duration
	}{
		{0, 1, limit.Result{Allowed: true, Remaining: 9, ResetAfter: 20 * ms}, 21 * ms},
		{0, 9, limit.Result{Allowed: true, Remaining: 0, ResetAfter: 200 * ms}, 201 * ms},
		{0, 1, limit.Result{RetryAfter: 20 * ms, ResetAfter: 200 * ms}, 201 * ms},
		{20 * ms, 1, limit.Result{Allowed: true, Remaining: 0, ResetAfter: 200 * ms}, 201 * ms},
		{100 * ms, 3, limit.Result{Allowed: true, Remaining: 2, ResetAfter: 160 * ms}, 161 * ms},
		{0, 3, limit.Result{RetryAfter: 20 * ms, ResetAfter: 160 * ms}, 161 * ms},
		{0, 2, limit.Result{Allowed: true, Remaining: 0, ResetAfter: 200 * ms}, 201 * ms},
		{time.Hour, 10, limit.Result{Allowed: true, Remaining: 0, ResetAfter: 200 * ms}, 201 * ms},
	}
	ctx := context.Background()
	for i, s := range steps {
		clk.Advance(s.advance)
		got, err := l.Allow(ctx, s.n)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != s.want {
			t.Errorf("step %d: Allow(%d) = %+v, want %+v", i, s.n, got, s.want)
		}
		if ttl := clk.mr.TTL(l.keys[0]); ttl <= 0 || ttl > s.ttlAtMost {
			t.Errorf("step %d: TAT key TTL %v, want in (0, %v]", i, ttl, s.ttlAtMost)
		}
	}
}

// TestBucketReserve checks reservation of future slots, the deadline
// check, and Cancel giving units back only when nothing queued behind.
func TestBucketReserve(t *testing.T) {
	l, clk := newTestBucket(t, newMini(t), limit.PerSecond(50).WithBurst(10), Options{})
	ctx := context.Background()
	ms := time.Millisecond
	if _, err := l.Allow(ctx, 10); err != nil {
		t.Fatal(err)
	}
	t0 := clk.Now()
	r5, err := l.Reserve(ctx, 5) // units 11..15: the 15th is usable at 100ms
	if err != nil {
		t.Fatal(err)
	}
	if got := r5.At().Sub(t0); got != 100*ms {
		t.Errorf("Reserve(5) usable after %v, want 100ms", got)
	}
	short, cancel := context.WithTimeout(ctx, 100*ms) // the wait is 120ms; the call must fit in 100ms
	defer cancel()
	_, err = l.Reserve(short, 1)
	var we *limit.WaitError
	if !errors.As(err, &we) || !errors.Is(err, limit.ErrWouldExceedDeadline) || we.Wait != 120*ms {
		t.Fatalf("Reserve past deadline: err %v, want a *limit.WaitError of 120ms", err)
	}
	r5.Cancel(ctx) // nothing queued behind it: the 5 units come back
	if got, _ := l.Allow(ctx, 1); got.RetryAfter != 20*ms {
		t.Errorf("after Cancel, RetryAfter %v, want 20ms", got.RetryAfter)
	}
	r1, _ := l.Reserve(ctx, 1)
	r2, _ := l.Reserve(ctx, 1)
	r1.Cancel(ctx) // r2 is queued behind r1: r1's unit stays spent
	if got, _ := l.Allow(ctx, 1); got.RetryAfter != 60*ms {
		t.Errorf("after Cancel behind a later grant, RetryAfter %v, want 60ms", got.RetryAfter)
	}
	if got := r2.At().Sub(t0); got != 40*ms {
		t.Errorf("second reservation usable after %v, want 40ms", got)
	}
}

// TestBucketOnBothServers runs checks that need no clock control on
// miniredis and on the real server.
func TestBucketOnBothServers(t *testing.T) {
	for _, b := range allBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			l, _ := newTestBucket(t, b, limit.PerSecond(10).WithBurst(5), Options{})
			for i := range 5 {
				if r, err := l.Allow(ctx, 1); err != nil || !r.Allowed || r.Remaining != int64(4-i) {
					t.Fatalf("Allow #%d = %+v, %v; want allowed with %d remaining", i+1, r, err, 4-i)
				}
			}
			r, err := l.Allow(ctx, 1)
			if err != nil || r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > 100*time.Millisecond {
				t.Fatalf("6th Allow = %+v, %v; want denied, retry within 100ms", r, err)
			}
			ttl := b.client.PTTL(ctx, l.keys[0]).Val()
			if ttl <= 0 || ttl > 501*time.Millisecond {
				t.Errorf("TAT key TTL %v, want in (0, 501ms]", ttl)
			}
			for _, k := range l.Keys() {
				if !strings.HasPrefix(k, "{"+l.opts.Prefix+":bucket}:") {
					t.Errorf("key %q lacks the hash tag {%s:bucket}", k, l.opts.Prefix)
				}
			}
		})
	}
}

func TestBucketBadCost(t *testing.T) {
	l, _ := newTestBucket(t, newMini(t), limit.PerSecond(10).WithBurst(5), Options{})
	ctx := context.Background()
	tests := []struct {
		n    int64
		want error
	}{
		{0, limit.ErrBadCost},
		{-3, limit.ErrBadCost},
		{6, limit.ErrCostExceedsBurst},
	}
	for _, tt := range tests {
		if _, err := l.Allow(ctx, tt.n); !errors.Is(err, tt.want) {
			t.Errorf("Allow(%d) error %v, want %v", tt.n, err, tt.want)
		}
		if _, err := l.Reserve(ctx, tt.n); !errors.Is(err, tt.want) {
			t.Errorf("Reserve(%d) error %v, want %v", tt.n, err, tt.want)
		}
		if err := l.Wait(ctx, tt.n); !errors.Is(err, tt.want) {
			t.Errorf("Wait(%d) error %v, want %v", tt.n, err, tt.want)
		}
	}
}

func TestBucketInf(t *testing.T) {
	l, _ := newTestBucket(t, newMini(t), limit.Inf, Options{})
	ctx := context.Background()
	for range 100 {
		if r, err := l.Allow(ctx, 1000); err != nil || !r.Allowed || r.Remaining != math.MaxInt64 {
			t.Fatalf("Allow on Inf = %+v, %v", r, err)
		}
	}
}

// TestSetRate checks that a new rate applies to later decisions and that
// units already spent stay spent.
func TestSetRate(t *testing.T) {
	l, clk := newTestBucket(t, newMini(t), limit.PerSecond(10).WithBurst(2), Options{})
	ctx := context.Background()
	_, _ = l.Allow(ctx, 2)
	if err := l.SetRate(ctx, limit.PerSecond(100).WithBurst(2)); err != nil {
		t.Fatal(err)
	}
	// TAT is 200ms ahead; at 100/s with burst 2 (tau 20ms) the next unit
	// is usable when TAT + 10ms - 20ms = 190ms.
	if r, _ := l.Allow(ctx, 1); r.Allowed || r.RetryAfter != 190*time.Millisecond {
		t.Errorf("after SetRate: %+v, want denied for 190ms", r)
	}
	clk.Advance(190 * time.Millisecond)
	if r, _ := l.Allow(ctx, 1); !r.Allowed {
		t.Errorf("after 190ms: %+v, want allowed", r)
	}
	if err := l.SetRate(ctx, limit.Rate{Count: 1}); err == nil {
		t.Error("SetRate accepted a rate without a period")
	}
}

// countHook counts the commands a client sends, pipelines included.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestOneRoundTrip checks that each decision is exactly one command once
// the script is cached on the server.
func TestOneRoundTrip(t *testing.T) {
	for _, b := range allBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			c := redis.NewClient(&redis.Options{Addr: b.client.Options().Addr, ContextTimeoutEnabled: true})
			defer c.Close()
			h := &countHook{}
			c.AddHook(h)
			rates := map[string]func() (*Limiter, error){
				"bucket": func() (*Limiter, error) {
					return NewBucket(c, "b", limit.PerSecond(1000), Options{Prefix: prefix(t, c), Timeout: testTimeout})
				},
				"window": func() (*Limiter, error) {
					return NewWindow(c, "w", []limit.Rate{limit.PerSecond(1000), limit.PerMinute(5000)}, Options{Prefix: prefix(t, c), Timeout: testTimeout})
				},
			}
			for name, mk := range rates {
				l, err := mk()
				if err != nil {
					t.Fatal(err)
				}
				_, _ = l.Allow(ctx, 1) // may load the script: EVALSHA, NOSCRIPT, EVAL
				before := h.n.Load()
				for range 50 {
					if _, err := l.Allow(ctx, 1); err != nil {
						t.Fatal(err)
					}
					if _, err := l.Reserve(ctx, 1); err != nil {
						t.Fatal(err)
					}
				}
				if got := h.n.Load() - before; got != 100 {
					t.Errorf("%s: 100 decisions took %d commands, want 100", name, got)
				}
			}
		})
	}
}

// TestRememberedRefusal checks that after Redis refused one unit, Allow
// refuses locally until then, and that SetRate and a Reserve grant forget it.
func TestRememberedRefusal(t *testing.T) {
	l, clk := newTestBucket(t, newMini(t), limit.PerSecond(50).WithBurst(2), Options{})
	ctx := context.Background()
	ms := time.Millisecond
	_, _ = l.Allow(ctx, 2)
	calls := l.Stats().Calls
	steps := []struct {
		advance   time.Duration
		wantRetry time.Duration // 0 = allowed
		wantCall  bool
	}{
		{0, 20 * ms, true},  // Redis refuses and the limiter remembers
		{0, 20 * ms, false}, // remembered
		{10 * ms, 10 * ms, false},
		{10 * ms, 0, true}, // the instant has come: Redis grants
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		r, err := l.Allow(ctx, 1)
		if err != nil || r.RetryAfter != s.wantRetry || r.Allowed != (s.wantRetry == 0) {
			t.Errorf("step %d: %+v, %v; want retry after %v", i, r, err, s.wantRetry)
		}
		if c := l.Stats().Calls; (c > calls) != s.wantCall {
			t.Errorf("step %d: went to redis %v, want %v", i, c > calls, s.wantCall)
		} else {
			calls = c
		}
	}
	if st := l.Stats(); st.LocalDenials != 2 {
		t.Errorf("LocalDenials %d, want 2", st.LocalDenials)
	}
	forget := map[string]func(){
		"SetRate": func() { _ = l.SetRate(ctx, limit.PerSecond(50).WithBurst(2)) },
		"Reserve": func() { _, _ = l.Reserve(ctx, 1) },
	}
	for name, f := range forget {
		clk.Advance(time.Second)
		_, _ = l.Allow(ctx, 2)
		_, _ = l.Allow(ctx, 1) // refused and remembered
		f()
		before := l.Stats().Calls
		_, _ = l.Allow(ctx, 1)
		if l.Stats().Calls == before {
			t.Errorf("after %s the refusal was still remembered", name)
		}
	}
}

// TestWaitCancelled checks that a Wait whose context ends while it sleeps
// returns ctx.Err() and gives its units back, and that a Wait past the
// deadline fails at once without claiming anything.
func TestWaitCancelled(t *testing.T) {
	for _, lease := range []int64{0, 3} {
		t.Run(fmt.Sprintf("lease=%d", lease), func(t *testing.T) {
			l, _ := newTestBucket(t, newMini(t), limit.PerSecond(10).WithBurst(3), Options{Lease: lease})
			ctx := context.Background()
			_, _ = l.Allow(ctx, 3)     // empty now: units only in the future
			next := func() time.Time { // when the next unit may be used, claiming nothing
				r, err := l.Reserve(ctx, 1)
				if err != nil {
					t.Fatal(err)
				}
				r.Cancel(ctx)
				return r.At()
			}
			before := next()
			wctx, cancel := context.WithCancel(ctx)
			st := l.Stats()
			sent := st.Calls + st.LeaseHits
			go func() {
				for { // until the Wait has its reservation (from Redis or the lease)
					if st := l.Stats(); st.Calls+st.LeaseHits > sent {
						break
					}
					runtime.Gosched()
				}
				cancel()
			}()
			if err := l.Wait(wctx, 1); !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait = %v, want context.Canceled", err)
			}
			if after := next(); !after.Equal(before) {
				t.Errorf("after the cancelled Wait the next unit is at %v, want %v: its unit was not given back", after, before)
			}
			short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond) // 3 units take 300ms
			defer cancel2()
			start := time.Now()
			if err := l.Wait(short, 3); !errors.Is(err, limit.ErrWouldExceedDeadline) || time.Since(start) > time.Second {
				t.Errorf("Wait past the deadline = %v after %v, want ErrWouldExceedDeadline at once", err, time.Since(start))
			}
			if after := next(); !after.Equal(before) {
				t.Errorf("after the refused Wait the next unit is at %v, want %v", after, before)
			}
		})
	}
}
