package retry

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock for Budget tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestBudget(t *testing.T, o BudgetOptions) (*Budget, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}
	o.Now = clk.now
	b, err := NewBudget(o)
	if err != nil {
		t.Fatal(err)
	}
	return b, clk
}

func TestNewBudgetOptions(t *testing.T) {
	tests := []struct {
		name string
		o    BudgetOptions
		ok   bool
	}{
		{"zero", BudgetOptions{}, true},
		{"finagle", BudgetOptions{Ratio: 0.2, MinPerSecond: 10, TTL: 10 * time.Second}, true},
		{"no ratio", BudgetOptions{Ratio: -1}, true},
		{"no floor", BudgetOptions{MinPerSecond: -1}, true},
		{"ttl 1s", BudgetOptions{TTL: time.Second}, true},
		{"ttl 60s", BudgetOptions{TTL: time.Minute}, true},
		{"ttl short", BudgetOptions{TTL: 999 * time.Millisecond}, false},
		{"ttl long", BudgetOptions{TTL: time.Hour}, false},
		{"ttl negative", BudgetOptions{TTL: -time.Second}, false},
		{"ratio NaN", BudgetOptions{Ratio: math.NaN()}, false},
		{"ratio huge", BudgetOptions{Ratio: 101}, false},
		{"ratio inf", BudgetOptions{Ratio: math.Inf(1)}, false},
		{"floor NaN", BudgetOptions{MinPerSecond: math.NaN()}, false},
		{"floor inf", BudgetOptions{MinPerSecond: math.Inf(1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBudget(tt.o)
			if (err == nil) != tt.ok || (b != nil) != tt.ok {
				t.Fatalf("NewBudget(%+v) = %v, %v; want ok=%v", tt.o, b, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidBudget) {
				t.Errorf("error %v does not wrap ErrInvalidBudget", err)
			}
		})
	}
}

// TestBudgetStopsStorm sends failing requests that would each retry twice
// and counts the retries the budget grants: at most Ratio*N plus the floor.
func TestBudgetStopsStorm(t *testing.T) {
	tests := []struct {
		name      string
		o         BudgetOptions
		requests  int
		want      int
		wantAvail int
	}{
		{"defaults, 1000 at once", BudgetOptions{}, 1000, 0.2*1000 + 10*10, 0},
		{"ratio only", BudgetOptions{Ratio: 0.1, MinPerSecond: -1}, 1000, 100, 0},
		{"floor only", BudgetOptions{Ratio: -1, MinPerSecond: 5, TTL: 2 * time.Second}, 1000, 10, 0},
		{"quiet route lives on the floor", BudgetOptions{}, 10, 2 * 10, 0.2*10 + 100 - 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBudget(t, tt.o)
			retries := 0
			for range tt.requests {
				b.Deposit()
				for range 2 { // MaxAttempts 3
					if b.TryWithdraw() {
						retries++
					}
				}
			}
			if retries != tt.want {
				t.Fatalf("%d failing requests got %d retries, want %d", tt.requests, retries, tt.want)
			}
			if got := b.Available(); got != tt.wantAvail {
				t.Fatalf("Available() = %d, want %d", got, tt.wantAvail)
			}
		})
	}
}

// TestBudgetSustainedStorm runs 1000 failing requests a second for a minute
// on a fake clock. Retries stay near Ratio of the requests plus the floor.
func TestBudgetSustainedStorm(t *testing.T) {
	b, clk := newTestBudget(t, BudgetOptions{})
	const (
		rate    = 1000 // requests per second
		seconds = 60
	)
	requests, retries := 0, 0
	for range rate * seconds {
		clk.advance(time.Second / rate)
		requests++
		b.Deposit()
		for range 2 {
			if b.TryWithdraw() {
				retries++
			}
		}
	}
	// Ratio*N, plus the floor for every window; windows expire a tenth at a
	// time, so a window is between 0.9 and 1 TTL long.
	bound := 0.2*float64(requests) + 10*(seconds+10)*10.0/9
	if float64(retries) > bound {
		t.Fatalf("%d requests got %d retries, want <= %.0f", requests, retries, bound)
	}
	if float64(retries) < 0.2*float64(requests) {
		t.Fatalf("%d requests got %d retries, want at least the 20%% the ratio allows", requests, retries)
	}
	t.Logf("%d failing requests, %d retries (%.1f%%), %d without a budget", requests, retries,
		100*float64(retries)/float64(requests), 2*requests)
}

func TestBudgetExpires(t *testing.T) {
	b, clk := newTestBudget(t, BudgetOptions{Ratio: 0.5, MinPerSecond: 1, TTL: 10 * time.Second})
	steps := []struct {
		name    string
		advance time.Duration
		deposit int
		take    int
		want    int // retries granted
		avail   int // Available afterwards
	}{
		{"floor alone", 0, 0, 4, 4, 6},
		{"deposits add ratio", 0, 10, 0, 0, 11},
		{"spend all", time.Second, 0, 20, 11, 0},
		{"still spent before ttl", 8 * time.Second, 0, 1, 0, 0},
		{"deposits expire, withdrawals still count", 1500 * time.Millisecond, 0, 1, 0, 0},
		{"withdrawals expire: floor is back", time.Second, 0, 20, 10, 0},
		{"clock goes back", -time.Hour, 0, 1, 0, 0},
	}
	for _, s := range steps {
		clk.advance(s.advance)
		for range s.deposit {
			b.Deposit()
		}
		got := 0
		for range s.take {
			if b.TryWithdraw() {
				got++
			}
		}
		if got != s.want {
			t.Fatalf("%s: %d retries granted, want %d", s.name, got, s.want)
		}
		if avail := b.Available(); avail != s.avail {
			t.Fatalf("%s: Available() = %d, want %d", s.name, avail, s.avail)
		}
	}
}

func TestNilBudget(t *testing.T) {
	var b *Budget
	b.Deposit()
	if !b.TryWithdraw() {
		t.Error("nil Budget refused a retry")
	}
	if got := b.Available(); got != math.MaxInt {
		t.Errorf("nil Budget Available() = %d, want MaxInt", got)
	}
}

func TestBudgetConcurrent(t *testing.T) {
	b, err := NewBudget(BudgetOptions{Ratio: 0.5, MinPerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 500
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted int
	)
	for range workers {
		wg.Go(func() {
			n := 0
			for range each {
				b.Deposit()
				if b.TryWithdraw() {
					n++
				}
			}
			mu.Lock()
			granted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if max := workers * each / 2; granted > max {
		t.Fatalf("granted %d retries, want <= %d", granted, max)
	}
}

func BenchmarkBudget(b *testing.B) {
	bud, err := NewBudget(BudgetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bud.Deposit()
			bud.TryWithdraw()
		}
	})
}
