package redislimit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/limit"
)

func newTestWindow(t *testing.T, b backend, rates []limit.Rate, opts Options) (*Limiter, *fakeClock) {
	t.Helper()
	opts.Prefix = prefix(t, b.client)
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	l, err := NewWindow(b.client, "window", rates, opts)
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

// TestWindowSequence checks two strict windows taken all-or-nothing:
// 3 per 100ms and 5 per second, on the fake clock.
func TestWindowSequence(t *testing.T) {
	rates := []limit.Rate{{Count: 3, Period: 100 * time.Millisecond}, limit.PerSecond(5)}
	l, clk := newTestWindow(t, newMini(t), rates, Options{})
	ms := time.Millisecond
	steps := []struct {
		advance time.Duration
		n       int64
		want    limit.Result
	}{
		{0, 1, limit.Result{Allowed: true, Remaining: 2, ResetAfter: time.Second}},
		{0, 1, limit.Result{Allowed: true, Remaining: 1, ResetAfter: time.Second}},
		{0, 1, limit.Result{Allowed: true, Remaining: 0, ResetAfter: time.Second}},
		{0, 1, limit.Result{RetryAfter: 100 * ms, ResetAfter: time.Second}},
		// the 100ms window is empty again (its interval is (0, 100ms]); the
		// second holds 3 of 5
		{100 * ms, 2, limit.Result{Allowed: true, Remaining: 0, ResetAfter: time.Second}},
		// the second window refuses: nothing is charged to the 100ms one
		{0, 1, limit.Result{RetryAfter: 900 * ms, ResetAfter: time.Second}},
		{50 * ms, 1, limit.Result{RetryAfter: 850 * ms, ResetAfter: 950 * ms}},
		// at 1s the three units of t=0 leave the second window
		{850 * ms, 3, limit.Result{Allowed: true, Remaining: 0, ResetAfter: time.Second}},
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
	}
	for _, k := range l.keys[:2] {
		if ttl := clk.mr.TTL(k); ttl <= 0 || ttl > time.Second+ms {
			t.Errorf("key %s TTL %v, want in (0, 1.001s]", k, ttl)
		}
	}

	// Both windows are full: the next unit fits when the 100ms window has
	// emptied and the two units of t=100ms leave the second window: 1.1s.
	t0 := clk.Now()
	r, err := l.Reserve(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.At().Sub(t0); got != 100*ms {
		t.Errorf("Reserve usable after %v, want 100ms", got)
	}
	r.Cancel(ctx)
	if got := clk.mr.Exists(l.keys[0]); !got {
		t.Fatal("log key vanished")
	}
	// left: the grants of t=100ms and t=1s (those of t=0 were trimmed)
	if n, _ := clk.mr.ZMembers(l.keys[0]); len(n) != 2 {
		t.Errorf("after Cancel the log holds %d grants %v, want 2", len(n), n)
	}
	short, cancel := context.WithTimeout(ctx, 90*ms) // the wait is 100ms
	defer cancel()
	if _, err := l.Reserve(short, 1); !errors.Is(err, limit.ErrWouldExceedDeadline) {
		t.Errorf("Reserve past deadline: %v, want ErrWouldExceedDeadline", err)
	}
}

// TestWindowMemoryBounded checks that the log never holds more grants than
// the largest window allows plus those reserved ahead.
func TestWindowMemoryBounded(t *testing.T) {
	l, clk := newTestWindow(t, newMini(t), []limit.Rate{{Count: 10, Period: 100 * time.Millisecond}}, Options{})
	ctx := context.Background()
	for range 1000 {
		clk.Advance(3 * time.Millisecond)
		if _, err := l.Allow(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if n, _ := clk.mr.ZMembers(l.keys[0]); len(n) > 10 {
			t.Fatalf("log holds %d grants, want at most 10", len(n))
		}
	}
}

func TestWindowOnBothServers(t *testing.T) {
	for _, b := range allBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			l, _ := newTestWindow(t, b, []limit.Rate{limit.PerSecond(5), limit.PerMinute(20)}, Options{})
			for i := range 5 {
				if r, err := l.Allow(ctx, 1); err != nil || !r.Allowed {
					t.Fatalf("Allow #%d = %+v, %v", i+1, r, err)
				}
			}
			r, err := l.Allow(ctx, 1)
			if err != nil || r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > time.Second {
				t.Fatalf("6th Allow = %+v, %v; want denied within 1s", r, err)
			}
			for _, k := range l.keys[:2] {
				if ttl := b.client.PTTL(ctx, k).Val(); ttl <= 0 || ttl > 61*time.Second {
					t.Errorf("key %s TTL %v", k, ttl)
				}
			}
		})
	}
}

func TestNewWindowErrors(t *testing.T) {
	b := newMini(t)
	tests := []struct {
		name  string
		rates []limit.Rate
		opts  Options
	}{
		{"none", nil, Options{}},
		{"inf", []limit.Rate{limit.Inf}, Options{}},
		{"burst", []limit.Rate{limit.PerSecond(5).WithBurst(2)}, Options{}},
		{"same period", []limit.Rate{limit.PerSecond(5), limit.PerSecond(6)}, Options{}},
		{"sub-ms", []limit.Rate{{Count: 1, Period: time.Microsecond}}, Options{}},
		{"lease", []limit.Rate{limit.PerSecond(5)}, Options{Lease: 5}},
	}
	for _, tt := range tests {
		if _, err := NewWindow(b.client, "w", tt.rates, tt.opts); err == nil {
			t.Errorf("%s: NewWindow accepted %v %+v", tt.name, tt.rates, tt.opts)
		}
	}
}

func TestNewErrors(t *testing.T) {
	b := newMini(t)
	tests := []struct {
		name  string
		bname string
		r     limit.Rate
		opts  Options
	}{
		{"empty name", "", limit.PerSecond(1), Options{}},
		{"brace name", "a}b", limit.PerSecond(1), Options{}},
		{"brace prefix", "a", limit.PerSecond(1), Options{Prefix: "{x"}},
		{"zero rate", "a", limit.Rate{}, Options{}},
		{"negative timeout", "a", limit.PerSecond(1), Options{Timeout: -1}},
		{"negative workers", "a", limit.PerSecond(1), Options{ExpectedWorkers: -1}},
		{"negative lease", "a", limit.PerSecond(1), Options{Lease: -1}},
		{"negative probe", "a", limit.PerSecond(1), Options{ProbeInterval: -1}},
		{"bad policy", "a", limit.PerSecond(1), Options{OnFailure: 7}},
	}
	for _, tt := range tests {
		if _, err := NewBucket(b.client, tt.bname, tt.r, tt.opts); err == nil {
			t.Errorf("%s: NewBucket accepted it", tt.name)
		}
	}
	if _, err := NewBucket(nil, "a", limit.PerSecond(1), Options{}); err == nil {
		t.Error("NewBucket accepted a nil client")
	}
}
