package limit

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Bucket is a token bucket implemented as GCRA (generic cell rate
// algorithm): its whole state is one theoretical arrival time (TAT) held in an
// atomic int64, so Allow takes no lock and allocates nothing. Units are
// earned one per Rate.Interval (rounded up to a whole nanosecond, so the
// bucket never grants faster than the rate), up to the burst.
//
// A Bucket is safe for concurrent use. Create one with NewBucket.
type Bucket struct {
	// tat is written by every grant. It is first and padded to 64 bytes so
	// that the read-mostly fields below are not invalidated on the other
	// cores at each grant: under RunParallel this false sharing cost more
	// than the compare-and-swap itself. (A Bucket is 192 bytes, a size class
	// whose objects start on 64-byte boundaries, so tat has its line alone.)
	tat atomic.Int64 // ns since clk.base; the instant the bucket is empty until
	_   [56]byte

	cfg atomic.Pointer[bucketCfg]
	// pause is the end of the latest PauseUntil (ns since clk.base); only
	// SetRate reads it, so that rescaling TAT never shortens a pause.
	pause atomic.Int64
	clk   clock
	q     waitQueue
}

// bucketCfg is swapped whole by SetRate.
type bucketCfg struct {
	rate  Rate
	t     int64 // ns per unit; 0 for Inf
	tau   int64 // t * burst: how far ahead of now TAT may run
	burst int64 // math.MaxInt64 for Inf
}

func newBucketCfg(r Rate) (*bucketCfg, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.IsInf() {
		return &bucketCfg{rate: Inf, burst: math.MaxInt64}, nil
	}
	t := int64(r.Period) / r.Count
	if int64(r.Period)%r.Count != 0 {
		t++ // round up: never faster than Count per Period
	}
	b := r.BurstOrCount()
	if b > maxSpan/t {
		return nil, fmt.Errorf("limit: rate %v: burst %d times interval %v exceeds %v", r, b, time.Duration(t), time.Duration(maxSpan))
	}
	return &bucketCfg{rate: r, t: t, tau: t * b, burst: b}, nil
}

// NewBucket returns a token bucket granting r.Count units per r.Period with
// a burst of r.BurstOrCount(). It starts full.
func NewBucket(r Rate, opts ...Option) (*Bucket, error) {
	c, err := newBucketCfg(r)
	if err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	b := &Bucket{clk: newClock(o.clock)}
	b.q.aging = int64(o.aging)
	b.cfg.Store(c)
	b.tat.Store(math.MinInt64 / 2) // long ago: full
	b.pause.Store(math.MinInt64 / 2)
	return b, nil
}

// Rate returns the bucket's current rate.
func (b *Bucket) Rate() Rate { return b.cfg.Load().rate }

// check is inlined into Allow; the errors are built out of line.
func (c *bucketCfg) check(n int64) error {
	if n > 0 && n <= c.burst {
		return nil
	}
	return c.costError(n)
}

func (c *bucketCfg) costError(n int64) error {
	if n <= 0 {
		return fmt.Errorf("%w: %d", ErrBadCost, n)
	}
	if n > c.burst {
		return fmt.Errorf("%w: cost %d, burst %d", ErrCostExceedsBurst, n, c.burst)
	}
	return nil
}

// take grants n units at now if the GCRA allows it. It ignores the wait
// queue. c must have checked n.
func (b *Bucket) take(now, n int64, c *bucketCfg) (Result, bool) {
	inc := n * c.t
	for {
		old := b.tat.Load()
		tat := max(old, now)
		next := tat + inc
		allowAt := next - c.tau
		if allowAt > now {
			return Result{RetryAfter: time.Duration(allowAt - now), ResetAfter: time.Duration(tat - now)}, false
		}
		if c.t == 0 { // Inf, not paused
			return Result{Allowed: true, Remaining: math.MaxInt64}, true
		}
		if b.tat.CompareAndSwap(old, next) {
			return Result{Allowed: true, Remaining: (now - allowAt) / c.t, ResetAfter: time.Duration(next - now)}, true
		}
	}
}

// Allow takes n units if they are available now. While callers of Wait are
// queued it refuses, so that it cannot overtake them. ctx is not used.
func (b *Bucket) Allow(ctx context.Context, n int64) (Result, error) {
	c := b.cfg.Load()
	if err := c.check(n); err != nil {
		return Result{}, err
	}
	now := b.clk.now()
	if !b.q.empty() {
		return Result{RetryAfter: time.Duration(max(b.estimateAt(now, n+b.q.units.Load(), c), 1))}, nil
	}
	r, _ := b.take(now, n, c)
	return r, nil
}

// estimateAt returns how long from now until n units could be taken.
func (b *Bucket) estimateAt(now, n int64, c *bucketCfg) int64 {
	n = min(n, maxSpan/max(c.t, 1))
	return max(max(b.tat.Load(), now)+n*c.t-c.tau-now, 0)
}

func (b *Bucket) tryTake(_ context.Context, n int64) (bool, int64, error) {
	c := b.cfg.Load()
	if err := c.check(n); err != nil {
		return false, 0, err // SetRate lowered the burst below n
	}
	r, ok := b.take(b.clk.now(), n, c)
	return ok, max(int64(r.RetryAfter), 1), nil
}

// grab is Allow for a Multi: it also returns the token ungrab needs.
func (b *Bucket) grab(n int64) (Result, bool, int64, error) {
	c := b.cfg.Load()
	if err := c.check(n); err != nil {
		return Result{}, false, 0, err
	}
	now := b.clk.now()
	if !b.q.empty() {
		return Result{RetryAfter: time.Duration(max(b.estimateAt(now, n+b.q.units.Load(), c), 1))}, false, 0, nil
	}
	r, ok := b.take(now, n, c)
	return r, ok, n * c.t, nil
}

// ungrab gives back a grant made by grab moments ago. Moving TAT back by
// exactly its share restores the state it would have without the grant,
// whatever was granted since (see refund).
func (b *Bucket) ungrab(n, token int64) { b.tat.Add(-token) }

func (b *Bucket) estimate(n int64) int64 {
	c := b.cfg.Load()
	return b.estimateAt(b.clk.now(), n, c)
}

// Wait blocks until n units are granted; see Limiter.Wait. When nobody is
// queued and the units are available it returns without allocating.
func (b *Bucket) Wait(ctx context.Context, n int64) error {
	c := b.cfg.Load()
	if err := c.check(n); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.q.empty() {
		if _, ok := b.take(b.clk.now(), n, c); ok {
			return nil
		}
	}
	return b.q.wait(ctx, b, &b.clk, n)
}

// Reserve claims n units at the earliest instant the rate allows, which
// may be now, and returns a Reservation for that instant. It claims nothing
// and returns a *WaitError when that instant is after ctx's deadline.
// Reservations are taken in call order and do not queue behind Wait callers.
func (b *Bucket) Reserve(ctx context.Context, n int64) (*Reservation, error) {
	c := b.cfg.Load()
	if err := c.check(n); err != nil {
		return nil, err
	}
	dl, hasDL := ctx.Deadline()
	inc := n * c.t
	for {
		now := b.clk.now()
		old := b.tat.Load()
		next := max(old, now) + inc
		at := max(next-c.tau, now)
		if hasDL && at > b.clk.ns(dl) {
			return nil, &WaitError{Wait: time.Duration(at - now), Deadline: dl}
		}
		if c.t == 0 || b.tat.CompareAndSwap(old, next) {
			return &Reservation{at: b.clk.at(at), n: n, owner: b, tok: at}, nil
		}
	}
}

// refund gives inc ns of TAT back for a reservation due at at, unless it is
// already due (its units may have been used). Moving TAT back by exactly the
// reservation's share is safe even when later reservations were made: the
// state becomes what it would have been without this one, and the later
// reservations keep instants that are no earlier than that state allows.
func (b *Bucket) refund(inc, at int64) {
	if inc == 0 || b.clk.now() > at {
		return
	}
	b.tat.Add(-inc)
}

// cancelReservation refunds at the current interval: SetRate rescaled the
// debt the reservation added to TAT to that interval too.
func (b *Bucket) cancelReservation(r *Reservation) {
	b.refund(r.n*b.cfg.Load().t, r.tok)
}

// PauseUntil grants nothing before t. From t on the bucket restarts nearly
// empty, one unit at t and then at the rate, so that everyone held back by
// a provider's Retry-After does not rush in at once. It never shortens a
// pause already in force. ctx is not used.
func (b *Bucket) PauseUntil(ctx context.Context, t time.Time) error {
	c := b.cfg.Load()
	now := b.clk.now()
	until := now + clampSpan(b.clk.ns(t)-now)
	if until <= now {
		return nil // a pause in the past holds nothing back
	}
	for {
		p := b.pause.Load()
		if p >= until || b.pause.CompareAndSwap(p, until) {
			break
		}
	}
	target := until + c.tau - c.t
	for {
		old := b.tat.Load()
		if old >= target {
			break
		}
		if b.tat.CompareAndSwap(old, target) {
			break
		}
	}
	b.q.wakeHead()
	return nil
}

// SetRate changes the rate and burst, keeping the units already spent:
// the debt held in TAT is rescaled from the old interval to the new one
// (capped at the new burst: an empty bucket stays empty, not more).
// A decision racing with SetRate is made under either the old or the new rate.
func (b *Bucket) SetRate(ctx context.Context, r Rate) error {
	nc, err := newBucketCfg(r)
	if err != nil {
		return err
	}
	for {
		oc := b.cfg.Load()
		now := b.clk.now()
		old := b.tat.Load()
		next := old
		if old > now {
			switch {
			case oc.t == 0 || nc.t == 0:
				next = now // Inf owes nothing (a pause is restored below)
			default:
				debt := float64(old-now) / float64(oc.t) * float64(nc.t)
				next = now + min(int64(min(debt, float64(maxSpan))), nc.tau) // at most empty
			}
		}
		if p := b.pause.Load(); p > now {
			next = max(next, p+nc.tau-nc.t) // a pause stays a pause
		}
		if b.tat.CompareAndSwap(old, next) {
			if !b.cfg.CompareAndSwap(oc, nc) {
				continue
			}
			break
		}
	}
	b.q.wakeHead()
	return nil
}

var _ Limiter = (*Bucket)(nil)
