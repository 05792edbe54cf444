package circuit

import (
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sony/gobreaker/v2"
)

// run reports outs to b, one Allow and done each, and fails t if a
// request is refused.
func run(t *testing.T, b *Breaker, outs ...Outcome) {
	t.Helper()
	for i, o := range outs {
		done, err := b.Allow()
		if err != nil {
			t.Fatalf("request %d (%v): Allow: %v", i, o, err)
		}
		done(o)
	}
}

// feed reports outs to b like run, but stops at the first refusal.
func feed(b *Breaker, outs ...Outcome) {
	for _, o := range outs {
		done, err := b.Allow()
		if err != nil {
			return
		}
		done(o)
	}
}

func repeat(o Outcome, n int) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

func mustNew(t *testing.T, s Settings) *Breaker {
	t.Helper()
	b, err := New("api", s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantState(t *testing.T, b *Breaker, want State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

func TestTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, Settings{OpenTimeout: 10 * time.Second})
		run(t, b, repeat(Failure, 4)...)
		wantState(t, b, Closed)
		run(t, b, Failure)
		wantState(t, b, Open)

		_, err := b.Allow()
		if !errors.Is(err, ErrOpen) || errors.Is(err, ErrTooManyProbes) {
			t.Fatalf("Allow while open: %v, want ErrOpen", err)
		}
		if want := `circuit: breaker "api" is open`; !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("message %q does not start with %q", err, want)
		}

		time.Sleep(10*time.Second - time.Nanosecond)
		wantState(t, b, Open)
		time.Sleep(2 * time.Nanosecond)
		wantState(t, b, HalfOpen)

		// A failed probe opens it again for a full OpenTimeout.
		run(t, b, Failure)
		wantState(t, b, Open)
		time.Sleep(10*time.Second + time.Nanosecond)
		wantState(t, b, HalfOpen)

		// A successful probe closes it, with fresh counts.
		run(t, b, Success)
		wantState(t, b, Closed)
		if c := b.Counts(); c != (Counts{}) {
			t.Fatalf("counts after closing = %+v, want zero", c)
		}
		run(t, b, repeat(Failure, 4)...)
		wantState(t, b, Closed)
	})
}

func TestConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name string
		n    uint32
		outs []Outcome
		want State
	}{
		{"default 5 opens", 0, repeat(Failure, 5), Open},
		{"default 4 stays closed", 0, repeat(Failure, 4), Closed},
		{"success breaks the run", 0, []Outcome{Failure, Failure, Failure, Failure, Success, Failure}, Closed},
		{"neutral does not break the run", 0, []Outcome{Failure, Failure, Neutral, Failure, Neutral, Failure, Failure}, Open},
		{"neutral does not count as failure", 0, repeat(Neutral, 50), Closed},
		{"unknown outcome is neutral", 0, []Outcome{Failure, Outcome(42), Failure, Failure, Failure}, Closed},
		{"n 1", 1, []Outcome{Success, Failure}, Open},
		{"n 3", 3, repeat(Failure, 3), Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, Settings{ConsecutiveFailures: tt.n})
				run(t, b, tt.outs...)
				wantState(t, b, tt.want)
			})
		})
	}
}

// alternate returns n outcomes, every k-th a Failure and the rest Success.
func alternate(n, k int) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		if i%k == k-1 {
			out[i] = Failure
		}
	}
	return out
}

func TestFailureRatio(t *testing.T) {
	tests := []struct {
		name  string
		ratio float64
		min   uint32
		outs  []Outcome
		want  State
	}{
		{"half failed, volume reached", 0.5, 10, alternate(10, 2), Open},
		{"half failed, below volume", 0.5, 10, alternate(9, 2), Closed},
		{"third failed, under ratio", 0.5, 10, alternate(30, 3), Closed},
		{"third failed, ratio 0.3", 0.3, 10, alternate(30, 3), Open},
		{"default volume 20 not reached", 0.5, 0, alternate(19, 2), Closed},
		{"default volume 20 reached", 0.5, 0, alternate(20, 2), Open},
		{"neutral not in volume", 0.5, 10, append(repeat(Neutral, 20), alternate(8, 2)...), Closed},
		{"ratio off", 0, 10, alternate(100, 2), Closed},
		{"ratio 1 needs all failed", 1, 4, []Outcome{Failure, Failure, Success, Failure, Failure, Failure}, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, Settings{ConsecutiveFailures: 1000, FailureRatio: tt.ratio, MinRequests: tt.min})
				feed(b, tt.outs...)
				wantState(t, b, tt.want)
			})
		})
	}
}

func TestRollingWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Settings{ConsecutiveFailures: 1000, FailureRatio: 0.5, MinRequests: 10, Window: 10 * time.Second}
		b := mustNew(t, s)
		run(t, b, repeat(Failure, 5)...)
		time.Sleep(10 * time.Second) // the 5 failures leave the window
		run(t, b, alternate(9, 3)...)
		wantState(t, b, Closed)
		if c := b.Counts(); c.Failures != 3 || c.Successes != 6 {
			t.Fatalf("counts = %+v, want 3 failures and 6 successes in the window", c)
		}

		// Without the pause the same outcomes trip it: 8 of 14.
		b = mustNew(t, s)
		run(t, b, repeat(Failure, 5)...)
		feed(b, alternate(9, 3)...)
		wantState(t, b, Open)
	})
}

func TestConsecutiveFailuresExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, Settings{Window: time.Second})
		run(t, b, repeat(Failure, 4)...)
		time.Sleep(time.Second)
		run(t, b, Failure)
		wantState(t, b, Closed)
		run(t, b, repeat(Failure, 4)...)
		wantState(t, b, Open)
	})
}

// halfOpen returns a breaker with the given probes, already half-open.
func halfOpen(t *testing.T, probes uint32) *Breaker {
	t.Helper()
	b := mustNew(t, Settings{ConsecutiveFailures: 1, OpenTimeout: time.Second, HalfOpenProbes: probes})
	run(t, b, Failure)
	time.Sleep(time.Second + time.Nanosecond)
	wantState(t, b, HalfOpen)
	return b
}

func TestHalfOpenProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := halfOpen(t, 2)
		d1, err1 := b.Allow()
		d2, err2 := b.Allow()
		if err1 != nil || err2 != nil {
			t.Fatalf("first two probes refused: %v, %v", err1, err2)
		}
		_, err := b.Allow()
		if !errors.Is(err, ErrTooManyProbes) || errors.Is(err, ErrOpen) {
			t.Fatalf("third probe: %v, want ErrTooManyProbes", err)
		}
		if want := `circuit: breaker "api" is half-open and all its 2 probe(s) are in use`; err.Error() != want {
			t.Fatalf("message %q, want %q", err, want)
		}

		// Neutral frees the slot without counting.
		d1(Neutral)
		wantState(t, b, HalfOpen)
		d3, err := b.Allow()
		if err != nil {
			t.Fatalf("probe after a neutral outcome refused: %v", err)
		}
		// Two successes in a row are needed with 2 probes.
		d2(Success)
		wantState(t, b, HalfOpen)
		d3(Success)
		wantState(t, b, Closed)
	})
}

func TestHalfOpenFailureReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := halfOpen(t, 3)
		d1, _ := b.Allow()
		d2, _ := b.Allow()
		d1(Success)
		d2(Failure)
		wantState(t, b, Open)
	})
}

func TestStaleOutcomeIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, Settings{ConsecutiveFailures: 1, OpenTimeout: time.Second})
		slow, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		run(t, b, Failure)
		time.Sleep(2 * time.Second)
		wantState(t, b, HalfOpen)
		slow(Success) // allowed while closed: must not close the half-open breaker
		wantState(t, b, HalfOpen)
		if _, err := b.Allow(); err != nil {
			t.Fatalf("the probe slot was taken by a stale outcome: %v", err)
		}
	})
}

func TestDoneOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, Settings{ConsecutiveFailures: 2})
		done, _ := b.Allow()
		done(Failure)
		done(Failure)
		wantState(t, b, Closed)
		if c := b.Counts(); c.Failures != 1 || c.Requests != 1 {
			t.Fatalf("counts = %+v, want 1 request and 1 failure", c)
		}
	})
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want string // "" = valid
	}{
		{"zero", Settings{}, ""},
		{"all set", Settings{ConsecutiveFailures: 3, FailureRatio: 0.5, MinRequests: 5, Window: time.Minute, OpenTimeout: time.Second, HalfOpenProbes: 3}, ""},
		{"ratio 1", Settings{FailureRatio: 1}, ""},
		{"ratio above 1", Settings{FailureRatio: 1.5}, "circuit: FailureRatio 1.5 must be between 0 and 1"},
		{"ratio negative", Settings{FailureRatio: -0.1}, "circuit: FailureRatio -0.1 must be between 0 and 1"},
		{"ratio NaN", Settings{FailureRatio: math.NaN()}, "circuit: FailureRatio NaN must be between 0 and 1"},
		{"window negative", Settings{Window: -time.Second}, "circuit: Window -1s must not be negative"},
		{"window tiny", Settings{Window: time.Millisecond}, "circuit: Window 1ms is shorter than the minimum 10ms"},
		{"timeout negative", Settings{OpenTimeout: -1}, "circuit: OpenTimeout -1ns must not be negative"},
		{"probes absurd", Settings{HalfOpenProbes: 1 << 20}, "circuit: HalfOpenProbes 1048576 is more than the maximum 10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New("api", tt.s)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want == "" && b.Name() != "api":
				t.Fatalf("Name() = %q", b.Name())
			case tt.want != "" && (err == nil || err.Error() != tt.want+` (breaker "api")`):
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Closed.String(), "closed"},
		{HalfOpen.String(), "half-open"},
		{Open.String(), "open"},
		{State(9).String(), "State(9)"},
		{Success.String(), "success"},
		{Failure.String(), "failure"},
		{Neutral.String(), "neutral"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func BenchmarkAllowDone(b *testing.B) {
	br, err := New("api", Settings{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(Success)
	}
}

func BenchmarkAllowOpen(b *testing.B) {
	br, err := New("api", Settings{ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	done, _ := br.Allow()
	done(Failure)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Allow(); err == nil {
			b.Fatal("allowed while open")
		}
	}
}

// BenchmarkGobreakerTwoStep is the bare gobreaker path, for the cost of
// this layer beside it.
func BenchmarkGobreakerTwoStep(b *testing.B) {
	cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Name: "api", Interval: DefaultWindow, BucketPeriod: DefaultWindow / windowBuckets})
	b.ReportAllocs()
	for b.Loop() {
		done, err := cb.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
	}
}
