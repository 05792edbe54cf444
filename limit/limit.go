package limit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limiter grants units of a rate-limited resource. A unit is usually one
// request; with weighted cost it can be an LLM token or a byte.
//
// Implementations are safe for concurrent use. Methods that may block or do
// I/O take a context first.
type Limiter interface {
	// Allow takes n units if they are available now and never waits.
	// The Result says whether they were taken and, if not, how long until
	// they could be. err is non-nil only when the decision could not be made
	// (a bad n, or a distributed backend that failed).
	Allow(ctx context.Context, n int64) (Result, error)

	// Reserve claims n units now or at a future instant and returns a
	// Reservation that says when they may be used. The caller waits until
	// then (or cancels). Reserve fails without claiming anything when n
	// exceeds what the limiter can ever grant (ErrCostExceedsBurst) or when
	// the grant would come after ctx's deadline (a *WaitError).
	Reserve(ctx context.Context, n int64) (*Reservation, error)

	// Wait blocks until n units are granted. It returns at once, without
	// claiming anything, with a *WaitError when the grant would come after
	// ctx's deadline, and ctx.Err() if ctx ends while it waits (returning the
	// units it had reserved). Waiters are served first come, first served;
	// a higher priority carried on ctx (see WithPriority) goes first.
	Wait(ctx context.Context, n int64) error

	// PauseUntil refuses every grant until t, as when a provider's 429 says
	// Retry-After. A pause never shortens an existing one.
	PauseUntil(ctx context.Context, t time.Time) error

	// SetRate changes the rate and burst at run time, keeping the state
	// (units already spent stay spent).
	SetRate(ctx context.Context, r Rate) error
}

// Result is the outcome of Allow.
type Result struct {
	// Allowed reports whether the units were taken.
	Allowed bool
	// Remaining is the number of units that could still be taken at once
	// after this decision (0 when none).
	Remaining int64
	// RetryAfter is how long until the requested units could be taken, when
	// Allowed is false; zero otherwise.
	RetryAfter time.Duration
	// ResetAfter is how long until the limiter is back to its full burst.
	ResetAfter time.Duration
}

// Rate is a number of units per period, with a burst: the number of units
// that may be taken at once after an idle period. The zero Rate grants
// nothing; use Inf for no limit.
type Rate struct {
	// Count units are granted per Period.
	Count int64
	// Period is the length of the window Count applies to.
	Period time.Duration
	// Burst is the total instant capacity. Zero means Count (a full
	// window's worth may be taken at once, as redis_rate and most providers
	// count it).
	Burst int64
}

// Inf is a Rate with no limit.
var Inf = Rate{Count: -1}

// IsInf reports whether r imposes no limit.
func (r Rate) IsInf() bool { return r.Count < 0 }

// PerSecond returns a Rate of n units per second with burst n.
func PerSecond(n int64) Rate { return Rate{Count: n, Period: time.Second} }

// PerMinute returns a Rate of n units per minute with burst n.
func PerMinute(n int64) Rate { return Rate{Count: n, Period: time.Minute} }

// PerHour returns a Rate of n units per hour with burst n.
func PerHour(n int64) Rate { return Rate{Count: n, Period: time.Hour} }

// WithBurst returns r with its burst set to b.
func (r Rate) WithBurst(b int64) Rate { r.Burst = b; return r }

// BurstOrCount returns the effective burst: Burst, or Count when Burst is 0.
func (r Rate) BurstOrCount() int64 {
	if r.Burst > 0 {
		return r.Burst
	}
	return r.Count
}

// Interval returns the time it takes to earn one unit (Period / Count).
func (r Rate) Interval() time.Duration {
	if r.Count <= 0 {
		return 0
	}
	return r.Period / time.Duration(r.Count)
}

// Validate reports what is wrong with r, or nil.
func (r Rate) Validate() error {
	switch {
	case r.IsInf():
		return nil
	case r.Count == 0:
		return errors.New("limit: rate count must be positive")
	case r.Period <= 0:
		return fmt.Errorf("limit: rate period %v must be positive", r.Period)
	case r.Burst < 0:
		return fmt.Errorf("limit: burst %d must not be negative", r.Burst)
	case r.Period/time.Duration(r.Count) <= 0:
		return fmt.Errorf("limit: rate %d per %v is finer than one nanosecond per unit", r.Count, r.Period)
	}
	return nil
}

// String formats r as "100/min", with ",burst=N" when the burst differs from the count.
func (r Rate) String() string {
	if r.IsInf() {
		return "inf"
	}
	s := fmt.Sprintf("%d/%s", r.Count, periodName(r.Period))
	if r.Burst > 0 && r.Burst != r.Count {
		s += fmt.Sprintf(",burst=%d", r.Burst)
	}
	return s
}

func periodName(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Minute:
		return "min"
	case time.Hour:
		return "h"
	case 24 * time.Hour:
		return "day"
	}
	return d.String()
}

// Errors returned by limiters. Use errors.Is to test for them.
var (
	// ErrCostExceedsBurst means a request asked for more units than the
	// limiter can ever grant at once; waiting would never help.
	ErrCostExceedsBurst = errors.New("limit: cost exceeds burst")
	// ErrWouldExceedDeadline is matched by a *WaitError: the grant would come
	// after the context's deadline, so nothing was claimed.
	ErrWouldExceedDeadline = errors.New("limit: wait would exceed context deadline")
	// ErrBadCost means n was zero or negative.
	ErrBadCost = errors.New("limit: cost must be positive")
)

// WaitError reports that a grant would come too late for the caller's
// deadline. It matches ErrWouldExceedDeadline with errors.Is.
type WaitError struct {
	// Wait is how long the caller would have had to wait.
	Wait time.Duration
	// Deadline is the context deadline that made the wait impossible.
	Deadline time.Time
}

// Error implements error.
func (e *WaitError) Error() string {
	return fmt.Sprintf("limit: need to wait %v, past the context deadline", e.Wait.Round(time.Millisecond))
}

// Is reports whether target is ErrWouldExceedDeadline.
func (e *WaitError) Is(target error) bool { return target == ErrWouldExceedDeadline }
