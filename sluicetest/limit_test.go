package sluicetest

import (
	"math"
	"net/http"
	"testing"
	"time"
)

// step advances the clock by after, then sends one request and expects it
// accepted or not.
type step struct {
	after time.Duration
	ok    bool
}

func TestLimitsEnforceExactly(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name  string
		limit Limit
		start time.Time
		steps []step
	}{
		{"token bucket burst then rate", TokenBucket(10, 3), t0, []step{
			{0, true}, {0, true}, {0, true}, {0, false},
			{99 * ms, false}, {1 * ms, true}, {0, false},
			{250 * ms, true}, {0, true}, {0, false}, // 2.5 tokens: two pass
			{50 * ms, true}, {0, false}, // the half token plus 0.5 more
			{10 * time.Second, true}, {0, true}, {0, true}, {0, false}, // never above burst
		}},
		{"token bucket fractional rate", TokenBucket(0.5, 1), t0, []step{
			{0, true}, {1999 * ms, false}, {1 * ms, true}, {0, false},
		}},
		{"token bucket zero burst admits nothing", TokenBucket(100, 0), t0, []step{
			{0, false}, {time.Hour, false},
		}},
		{"fixed window resets at boundary", FixedWindow(3, time.Second), t0, []step{
			{0, true}, {0, true}, {0, true}, {0, false},
			{699 * ms, false}, {1 * ms, true}, {0, true}, {0, true}, {0, false},
			{999 * ms, false}, {1 * ms, true},
		}},
		{"fixed window of a minute aligned to the epoch", FixedWindow(1, time.Minute), t0.Add(59 * time.Second), []step{
			{0, true}, {0, false}, {699 * ms, false}, {1 * ms, true},
		}},
		{"leaky bucket fills and drains", LeakyBucket(2, 4), t0, []step{
			{0, true}, {0, true}, {0, false},
			{249 * ms, false}, {1 * ms, true}, {0, false},
			{500 * ms, true}, {0, true}, {0, false},
			{time.Hour, true}, {0, true}, {0, false},
		}},
		{"leaky bucket that never drains", LeakyBucket(1, 0), t0, []step{
			{0, true}, {time.Hour, false},
		}},
		{"unlimited", Limit{}, t0, []step{{0, true}, {0, true}, {0, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(tt.start)
			p := NewProvider(Options{Limit: tt.limit, Now: clk.Now})
			for i, s := range tt.steps {
				clk.Advance(s.after)
				res, _ := mustDo(t, p, call{})
				if got := res.StatusCode == http.StatusOK; got != s.ok {
					t.Fatalf("step %d (+%v, at %v): accepted = %v, want %v", i, s.after, clk.Now().Sub(tt.start), got, s.ok)
				}
			}
		})
	}
}

func TestBucketWaitAndSnapshot(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		limit    Limit
		takes    int           // units taken at t0
		after    time.Duration // then advance
		cost     int
		wantWait time.Duration
		want     quota
	}{
		{"token bucket empty", TokenBucket(50, 10), 10, 0, 1, 20 * ms,
			quota{limit: 10, remaining: 0, used: 10, next: 20 * ms, full: 200 * ms}},
		{"token bucket partly refilled", TokenBucket(50, 10), 10, 30 * ms, 2, 10 * ms,
			quota{limit: 10, remaining: 1, used: 9, next: 10 * ms, full: 170 * ms}},
		{"token bucket cost above burst", TokenBucket(50, 10), 0, 0, 11, never,
			quota{limit: 10, remaining: 10, used: 0}},
		{"fixed window", FixedWindow(5, time.Second), 5, 200 * ms, 1, 500 * ms,
			quota{limit: 5, remaining: 0, used: 5, next: 500 * ms, full: 500 * ms}},
		{"fixed window cost above limit", FixedWindow(5, time.Second), 0, 0, 6, never,
			quota{limit: 5, remaining: 5, used: 0, next: 700 * ms, full: 700 * ms}},
		{"leaky bucket full", LeakyBucket(40, 2), 40, 0, 1, 500 * ms,
			quota{limit: 40, remaining: 0, used: 40, next: 500 * ms, full: 20 * time.Second}},
		{"leaky bucket part drained", LeakyBucket(40, 2), 40, 250 * ms, 1, 250 * ms,
			quota{limit: 40, remaining: 0, used: 40, next: 250 * ms, full: 19750 * ms}},
		{"leaky bucket empty", LeakyBucket(40, 2), 0, 0, 1, 0,
			quota{limit: 40, remaining: 40, used: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucket(tt.limit)
			b.advance(t0)
			b.take(tt.takes)
			b.advance(t0.Add(tt.after))
			if got := b.wait(tt.cost); got != tt.wantWait {
				t.Errorf("wait(%d) = %v, want %v", tt.cost, got, tt.wantWait)
			}
			if got := b.snapshot(); got != tt.want {
				t.Errorf("snapshot = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLimitConstructorsClampBadInput(t *testing.T) {
	tests := []struct {
		name  string
		limit Limit
		want  string
	}{
		{"negative token bucket", TokenBucket(-1, -5), "token bucket 0/s burst 0"},
		{"NaN rate", TokenBucket(math.NaN(), 1), "token bucket 0/s burst 1"},
		{"infinite rate", TokenBucket(math.Inf(1), 1), "token bucket 1.7976931348623157e+308/s burst 1"},
		{"zero window", FixedWindow(5, 0), "fixed window 5 per 1s"},
		{"negative window count", FixedWindow(-5, time.Minute), "fixed window 0 per 1m0s"},
		{"negative leaky bucket", LeakyBucket(-1, -1), "leaky bucket 0 draining 0/s"},
		{"zero", Limit{}, "unlimited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.limit.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			// Whatever the input, deciding never panics and never waits
			// negatively.
			b := newBucket(tt.limit)
			for i := range 3 {
				b.advance(t0.Add(time.Duration(i) * time.Second))
				if w := b.wait(1); w < 0 {
					t.Fatalf("wait = %v", w)
				} else if w == 0 {
					b.take(1)
				}
				_ = b.snapshot()
			}
		})
	}
}

func TestClockGoingBackwardsStandsStill(t *testing.T) {
	b := newBucket(TokenBucket(10, 1))
	b.advance(t0)
	b.take(1)
	b.advance(t0.Add(-time.Hour))
	if w := b.wait(1); w != 100*time.Millisecond {
		t.Fatalf("wait after clock went back = %v, want 100ms", w)
	}
	b.advance(t0.Add(100 * time.Millisecond))
	if w := b.wait(1); w != 0 {
		t.Fatalf("wait after clock came back = %v, want 0", w)
	}
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		limit Limit
		q, w  int
	}{
		{TokenBucket(50, 10), 50, 1},
		{TokenBucket(0.5, 1), 1, 2},
		{TokenBucket(2.5, 1), 2, 1},
		{FixedWindow(5000, time.Hour), 5000, 3600},
		{FixedWindow(10, 100*time.Millisecond), 10, 1},
		{LeakyBucket(40, 2), 2, 1},
	}
	for _, tt := range tests {
		if q, w := tt.limit.policy(); q != tt.q || w != tt.w {
			t.Errorf("%v: policy = q=%d;w=%d, want q=%d;w=%d", tt.limit, q, w, tt.q, tt.w)
		}
	}
}
