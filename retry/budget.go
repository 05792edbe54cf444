package retry

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used for the zero fields of BudgetOptions (Finagle's RetryBudget).
const (
	DefaultBudgetRatio        = 0.2
	DefaultBudgetMinPerSecond = 10
	DefaultBudgetTTL          = 10 * time.Second
)

// ErrInvalidBudget is returned (wrapped, with the bad field named) by
// NewBudget.
var ErrInvalidBudget = errors.New("retry: invalid budget")

// budgetSlots is the number of slices the TTL window is cut into; deposits
// and withdrawals expire one slice at a time, as in Finagle's WindowedAdder.
const budgetSlots = 10

// unit is one retry, in the budget's fixed-point balance (milli-retries), so
// the ratio counts to three decimals, as gRPC's tokenRatio does.
const unit = 1000

// BudgetOptions configures a Budget. The zero value is Finagle's default:
// retries may add 20% to the request rate, with a floor of 10 retries a
// second, over a 10-second window.
type BudgetOptions struct {
	// Ratio is the share of requests that may be retried: each request
	// earns Ratio retries, which expire after TTL. 0 means
	// DefaultBudgetRatio (0.2); a negative value means none (only the
	// floor); at most 100.
	Ratio float64
	// MinPerSecond is a floor, so routes with little traffic can still
	// retry: MinPerSecond*TTL retries are allowed per window whatever the
	// request count. 0 means DefaultBudgetMinPerSecond (10); a negative
	// value means no floor.
	MinPerSecond float64
	// TTL is how long a request's earned retries (and a retry's
	// withdrawal) count. 0 means DefaultBudgetTTL (10s); it must lie in
	// [1s, 60s], as Finagle requires.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Budget is a retry budget for one route: over any TTL window, retries may
// add at most Ratio to the request rate, plus a floor of MinPerSecond*TTL.
// Whatever the failure rate, a storm of N failing requests then causes at
// most Ratio*N + MinPerSecond*TTL retries per window instead of
// (MaxAttempts-1)*N.
//
// It is Finagle's RetryBudget: a leaky token bucket whose deposits expire
// after TTL. Every original request deposits (Deposit), every retry
// withdraws (TryWithdraw), and the balance is the sum of what was deposited
// and withdrawn in the last TTL plus a constant reserve.
//
// A Budget is safe for concurrent use. A deposit within the current slice
// is one atomic add; the rest takes one short lock. A nil *Budget has no
// limit.
type Budget struct {
	now     func() time.Time
	earn    int64         // milli-retries a request deposits
	reserve int64         // milli-retries of the floor
	slot    time.Duration // TTL / budgetSlots

	mu    sync.Mutex
	slots [budgetSlots]int64 // guarded by mu: net deposits per slice
	cur   int                // guarded by mu: index of the current slice
	start time.Time          // guarded by mu: when the current slice began
	total int64              // guarded by mu: sum of slots

	// Deposits made before sliceEnd (Unix ns) add to pending without the
	// lock; advance moves pending into the current slice first.
	pending  atomic.Int64
	sliceEnd atomic.Int64
}

// NewBudget returns a Budget with a full reserve, or an error wrapping
// ErrInvalidBudget that names the bad option.
func NewBudget(o BudgetOptions) (*Budget, error) {
	ratio, perSec, ttl := o.Ratio, o.MinPerSecond, o.TTL
	if ratio == 0 {
		ratio = DefaultBudgetRatio
	}
	if perSec == 0 {
		perSec = DefaultBudgetMinPerSecond
	}
	if ttl == 0 {
		ttl = DefaultBudgetTTL
	}
	switch {
	case math.IsNaN(ratio) || ratio > 100:
		return nil, fmt.Errorf("%w: ratio %v is not in [0, 100]", ErrInvalidBudget, o.Ratio)
	case math.IsNaN(perSec) || perSec > 1e6:
		return nil, fmt.Errorf("%w: min per second %v is not in [0, 1e6]", ErrInvalidBudget, o.MinPerSecond)
	case ttl < time.Second || ttl > time.Minute:
		return nil, fmt.Errorf("%w: ttl %v is not in [1s, 60s]", ErrInvalidBudget, o.TTL)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	b := &Budget{
		now:     now,
		earn:    int64(math.Round(max(ratio, 0) * unit)),
		reserve: int64(math.Round(max(perSec, 0) * ttl.Seconds() * unit)),
		slot:    ttl / budgetSlots,
		start:   now(),
	}
	b.sliceEnd.Store(b.start.Add(b.slot).UnixNano())
	return b, nil
}

// Deposit records an original request (not a retry), earning it Ratio
// retries for the next TTL.
func (b *Budget) Deposit() {
	if b == nil {
		return
	}
	now := b.now()
	if now.UnixNano() < b.sliceEnd.Load() {
		b.pending.Add(b.earn) // lands in this slice, or the next at worst
		return
	}
	b.mu.Lock()
	b.advance(now)
	b.add(b.earn)
	b.mu.Unlock()
}

// TryWithdraw takes one retry from the budget and reports whether there was
// one. false means the budget is spent: do not retry.
func (b *Budget) TryWithdraw() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(b.now())
	if b.total+b.reserve < unit {
		return false
	}
	b.add(-unit)
	return true
}

// Available returns how many retries TryWithdraw would grant now (a nil
// Budget returns math.MaxInt).
func (b *Budget) Available() int {
	if b == nil {
		return math.MaxInt
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(b.now())
	return int(max(b.total+b.reserve, 0) / unit)
}

// add records n milli-retries in the current slice. Requires b.mu held.
func (b *Budget) add(n int64) {
	b.slots[b.cur] += n
	b.total += n
}

// advance expires the slices that ended before now. A clock that goes back
// leaves the state as it is. Requires b.mu held.
func (b *Budget) advance(now time.Time) {
	if p := b.pending.Swap(0); p != 0 {
		b.add(p)
	}
	elapsed := now.Sub(b.start)
	if elapsed < b.slot {
		return
	}
	n := elapsed / b.slot
	b.start = b.start.Add(n * b.slot)
	b.sliceEnd.Store(b.start.Add(b.slot).UnixNano())
	if n >= budgetSlots {
		b.slots, b.total, b.cur = [budgetSlots]int64{}, 0, 0
		return
	}
	for range n {
		b.cur = (b.cur + 1) % budgetSlots
		b.total -= b.slots[b.cur]
		b.slots[b.cur] = 0
	}
}
