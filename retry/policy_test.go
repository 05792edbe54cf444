package retry

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"zero", Policy{}, true},
		{"one attempt", Policy{MaxAttempts: 1}, true},
		{"all set", Policy{MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: time.Minute, Jitter: JitterEqual, MaxRetryAfter: time.Hour}, true},
		{"negative attempts", Policy{MaxAttempts: -1}, false},
		{"negative base", Policy{BaseDelay: -time.Second}, false},
		{"negative max", Policy{MaxDelay: -time.Second}, false},
		{"base above max", Policy{BaseDelay: time.Minute}, false},
		{"base above explicit max", Policy{BaseDelay: 2 * time.Second, MaxDelay: time.Second}, false},
		{"negative retry-after cap", Policy{MaxRetryAfter: -1}, false},
		{"unknown jitter", Policy{Jitter: 7}, false},
		{"negative jitter", Policy{Jitter: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error %v does not wrap ErrInvalidPolicy", err)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	got := Policy{}.WithDefaults()
	want := Policy{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second, MaxRetryAfter: time.Minute}
	if got != want {
		t.Fatalf("WithDefaults() = %+v, want %+v", got, want)
	}
}

func fixed(r float64) func() float64 { return func() float64 { return r } }

// almostOne is the largest float64 below 1.
var almostOne = math.Nextafter(1, 0)

func TestDelayExact(t *testing.T) {
	ms := time.Millisecond
	p := Policy{BaseDelay: 100 * ms, MaxDelay: 1000 * ms}
	tests := []struct {
		name   string
		jitter Jitter
		retry  int
		prev   time.Duration
		r      float64
		want   time.Duration
	}{
		{"none 1", JitterNone, 1, 0, 0.5, 100 * ms},
		{"none 2", JitterNone, 2, 0, 0.5, 200 * ms},
		{"none 4", JitterNone, 4, 0, 0.5, 800 * ms},
		{"none capped", JitterNone, 5, 0, 0.5, 1000 * ms},
		{"none huge retry", JitterNone, 1 << 30, 0, 0.5, 1000 * ms},
		{"none retry 0 is 1", JitterNone, 0, 0, 0.5, 100 * ms},
		{"none negative retry", JitterNone, -3, 0, 0.5, 100 * ms},
		{"full half", JitterFull, 3, 0, 0.5, 200 * ms},
		{"full zero", JitterFull, 3, 0, 0, 0},
		{"full after cap", JitterFull, 10, 0, 0.25, 250 * ms},
		{"equal zero", JitterEqual, 3, 0, 0, 200 * ms},
		{"equal half", JitterEqual, 3, 0, 0.5, 300 * ms},
		{"equal after cap", JitterEqual, 10, 0, 0, 500 * ms},
		{"decorrelated first low", JitterDecorrelated, 1, 0, 0, 100 * ms},
		{"decorrelated first mid", JitterDecorrelated, 1, 0, 0.5, 200 * ms},
		{"decorrelated from prev", JitterDecorrelated, 2, 200 * ms, 0.5, 350 * ms},
		{"decorrelated prev below base", JitterDecorrelated, 2, ms, 0.5, 200 * ms},
		{"decorrelated capped draw", JitterDecorrelated, 5, 900 * ms, 0.5, 550 * ms},
		{"decorrelated huge prev", JitterDecorrelated, 5, math.MaxInt64, 0, 100 * ms},
		{"rnd above range clamps", JitterFull, 1, 0, 7, 100*ms - 1},
		{"rnd negative clamps", JitterFull, 1, 0, -1, 0},
		{"rnd NaN clamps", JitterFull, 1, 0, math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := p
			p.Jitter = tt.jitter
			if got := p.Delay(tt.retry, tt.prev, fixed(tt.r)); got != tt.want {
				t.Fatalf("Delay(%d, %v, %v) = %v, want %v", tt.retry, tt.prev, tt.r, got, tt.want)
			}
		})
	}
}

// TestDelayBounds checks every jitter kind stays in its range, on random
// draws and at both ends of [0, 1), and never returns the bare cap.
func TestDelayBounds(t *testing.T) {
	base, ceiling := 10*time.Millisecond, 2*time.Second
	expo := func(n int) time.Duration { return min(ceiling, base<<min(n-1, 40)) }
	tests := []struct {
		jitter Jitter
		lo, hi func(n int, prev time.Duration) time.Duration // [lo, hi)
	}{
		{JitterFull, func(int, time.Duration) time.Duration { return 0 }, func(n int, _ time.Duration) time.Duration { return expo(n) }},
		{JitterEqual, func(n int, _ time.Duration) time.Duration { return expo(n) / 2 }, func(n int, _ time.Duration) time.Duration { return expo(n) }},
		{JitterDecorrelated, func(int, time.Duration) time.Duration { return base },
			func(_ int, prev time.Duration) time.Duration { return min(ceiling, 3*max(prev, base)) }},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range tests {
		t.Run(tt.jitter.String(), func(t *testing.T) {
			p := Policy{BaseDelay: base, MaxDelay: ceiling, Jitter: tt.jitter}
			draws := []func() float64{fixed(0), fixed(almostOne), rng.Float64}
			for _, rnd := range draws {
				prev := time.Duration(0)
				for n := 1; n <= 40; n++ {
					d := p.Delay(n, prev, rnd)
					lo, hi := tt.lo(n, prev), tt.hi(n, prev)
					if d < lo || d >= hi {
						t.Fatalf("retry %d prev %v: Delay = %v, want in [%v, %v)", n, prev, d, lo, hi)
					}
					if d == ceiling {
						t.Fatalf("retry %d: Delay returned the bare cap %v", n, d)
					}
					prev = d
				}
			}
		})
	}
}

func TestDelayDecorrelatedGrows(t *testing.T) {
	p := Policy{BaseDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Second, Jitter: JitterDecorrelated}
	var prev time.Duration
	var got []time.Duration
	for n := 1; n <= 12; n++ {
		prev = p.Delay(n, prev, fixed(0.9))
		got = append(got, prev)
	}
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] && got[i-1] < 9*time.Second {
			t.Fatalf("delays shrank before the cap: %v", got)
		}
	}
	if first, last := got[0], got[len(got)-1]; last < 100*first || last >= 10*time.Second {
		t.Fatalf("delays %v: want growth to near (not at) the 10s cap", got)
	}
}

func TestDelayNilRand(t *testing.T) {
	p := Policy{BaseDelay: time.Second, MaxDelay: time.Second}
	for range 100 {
		if d := p.Delay(1, 0, nil); d < 0 || d >= time.Second {
			t.Fatalf("Delay with nil rnd = %v, want in [0, 1s)", d)
		}
	}
}

func TestJitterString(t *testing.T) {
	tests := map[Jitter]string{JitterFull: "full", JitterDecorrelated: "decorrelated", JitterEqual: "equal", JitterNone: "none", 9: "Jitter(9)"}
	for j, want := range tests {
		if got := j.String(); got != want {
			t.Errorf("Jitter(%d).String() = %q, want %q", int(j), got, want)
		}
	}
}

func BenchmarkDelay(b *testing.B) {
	p := Policy{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; b.Loop(); i++ {
		_ = p.Delay(i%5+1, 0, rng.Float64)
	}
}
