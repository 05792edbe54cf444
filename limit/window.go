package limit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Window is a strict sliding window: in any interval of length Period it
// grants at most Count units, exactly (never Count+1), whatever the costs and
// the timing. It keeps a log of grants, one entry per grant (time and units),
// so its memory is bounded by Count entries of 16 bytes (and usually far less:
// a grant of n units takes one entry), plus one entry per outstanding
// reservation.
//
// Choose a Window over a Bucket when a provider enforces a hard quota over a
// long period ("100 per hour", "10,000 per day"): a Bucket with the same
// Count and Period also lets the burst through again as it refills, so some
// hour-long intervals see up to Count plus what is earned during them.
//
// A Window is safe for concurrent use. Create one with NewWindow. The
// Rate's Burst is ignored: a window's capacity is its Count.
type Window struct {
	clk clock
	q   waitQueue

	mu     sync.Mutex
	limit  int64   // guarded by mu; math.MaxInt64 for Inf
	period int64   // guarded by mu; ns
	rate   Rate    // guarded by mu
	pause  int64   // guarded by mu; nothing is granted before it
	log    []grant // guarded by mu; sorted by t; log[head:] are live
	head   int     // guarded by mu
	used   int64   // guarded by mu; units in log[head:]
}

// grant is one entry of a Window's log.
type grant struct{ t, n int64 }

// NewWindow returns a sliding window granting at most r.Count units in any
// r.Period.
func NewWindow(r Rate, opts ...Option) (*Window, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if !r.IsInf() && r.Period > time.Duration(maxSpan) {
		return nil, fmt.Errorf("limit: window period %v is longer than %v", r.Period, time.Duration(maxSpan))
	}
	o := buildOptions(opts)
	w := &Window{clk: newClock(o.clock), pause: math.MinInt64 / 2}
	w.q.aging = int64(o.aging)
	w.setRateLocked(r)
	return w, nil
}

// requires w.mu held (or w not yet shared)
func (w *Window) setRateLocked(r Rate) {
	w.rate = r
	if r.IsInf() {
		w.limit, w.period = math.MaxInt64, 0
		return
	}
	w.limit, w.period = r.Count, int64(r.Period)
}

// Rate returns the window's current rate.
func (w *Window) Rate() Rate {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rate
}

// requires w.mu held
func (w *Window) check(n int64) error {
	if n <= 0 {
		return fmt.Errorf("%w: %d", ErrBadCost, n)
	}
	if n > w.limit {
		return fmt.Errorf("%w: cost %d, window count %d", ErrCostExceedsBurst, n, w.limit)
	}
	return nil
}

// expire drops entries that no window ending at now or later contains.
// requires w.mu held
func (w *Window) expire(now int64) {
	for w.head < len(w.log) && w.log[w.head].t <= now-w.period {
		w.used -= w.log[w.head].n
		w.head++
	}
	if w.head == len(w.log) {
		w.log, w.head = w.log[:0], 0
		if cap(w.log) > 1024 && w.used == 0 {
			w.log = nil
		}
	} else if w.head > len(w.log)/2 {
		k := copy(w.log, w.log[w.head:])
		w.log, w.head = w.log[:k], 0
	}
}

// earliest returns the first instant g >= from at which n more units fit:
// the units granted in (g-Period, g] plus n are at most the limit. Grants
// are only ever added at or after the last entry, so checking the window
// that ends at g covers every window containing g.
// requires w.mu held
func (w *Window) earliest(from, n int64) int64 {
	if w.period == 0 { // Inf
		return from
	}
	need := w.used + n - w.limit // units that must leave the window
	i := w.head
	for ; i < len(w.log) && w.log[i].t <= from-w.period; i++ {
		need -= w.log[i].n
	}
	g := from
	for ; need > 0 && i < len(w.log); i++ {
		need -= w.log[i].n
		g = max(g, w.log[i].t+w.period)
	}
	return g
}

// start is the first instant a grant may be placed: not before now, the
// pause, or the last grant (the log stays sorted).
// requires w.mu held
func (w *Window) start(now int64) int64 {
	s := max(now, w.pause)
	if len(w.log) > w.head {
		s = max(s, w.log[len(w.log)-1].t)
	}
	return s
}

// takeLocked grants n units now if they fit. requires w.mu held
func (w *Window) takeLocked(now, n int64) (Result, bool) {
	w.expire(now)
	g := w.earliest(w.start(now), n)
	if g > now {
		return Result{RetryAfter: time.Duration(g - now), ResetAfter: w.resetAfter(now)}, false
	}
	w.add(now, n)
	return Result{Allowed: true, Remaining: w.limit - w.used, ResetAfter: w.resetAfter(now)}, true
}

// requires w.mu held
func (w *Window) add(t, n int64) {
	if w.period == 0 {
		return // Inf keeps no log
	}
	if k := len(w.log); k > w.head && w.log[k-1].t == t {
		w.log[k-1].n += n // same instant: one entry
	} else {
		w.log = append(w.log, grant{t, n})
	}
	w.used += n
}

// requires w.mu held
func (w *Window) resetAfter(now int64) time.Duration {
	if len(w.log) == w.head {
		return 0
	}
	return time.Duration(w.log[len(w.log)-1].t + w.period - now)
}

// removeLocked takes n units granted at t back out of the log, if an
// entry at t is still there. Removing units never lets a window exceed the
// limit. requires w.mu held
func (w *Window) removeLocked(t, n int64) {
	for i := len(w.log) - 1; i >= w.head && w.log[i].t >= t; i-- {
		if w.log[i].t != t {
			continue
		}
		take := min(n, w.log[i].n)
		w.log[i].n -= take
		w.used -= take
		if w.log[i].n == 0 {
			w.log = append(w.log[:i], w.log[i+1:]...)
		}
		return
	}
}

// Allow takes n units if they fit in the window now. While callers of Wait
// are queued it refuses, so that it cannot overtake them. ctx is not used.
func (w *Window) Allow(ctx context.Context, n int64) (Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(n); err != nil {
		return Result{}, err
	}
	now := w.clk.now()
	if !w.q.empty() {
		w.expire(now)
		g := w.earliest(w.start(now), n+w.q.units.Load())
		return Result{RetryAfter: time.Duration(max(g-now, 1)), ResetAfter: w.resetAfter(now)}, nil
	}
	r, _ := w.takeLocked(now, n)
	return r, nil
}

func (w *Window) tryTake(_ context.Context, n int64) (bool, int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(n); err != nil {
		return false, 0, err // SetRate lowered the count below n
	}
	r, ok := w.takeLocked(w.clk.now(), n)
	return ok, max(int64(r.RetryAfter), 1), nil
}

// grab is Allow for a Multi: it also returns the token ungrab needs (the
// grant's time).
func (w *Window) grab(n int64) (Result, bool, int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(n); err != nil {
		return Result{}, false, 0, err
	}
	now := w.clk.now()
	if !w.q.empty() {
		w.expire(now)
		g := w.earliest(w.start(now), n+w.q.units.Load())
		return Result{RetryAfter: time.Duration(max(g-now, 1))}, false, 0, nil
	}
	r, ok := w.takeLocked(now, n)
	return r, ok, now, nil
}

// ungrab removes a grant made by grab.
func (w *Window) ungrab(n, token int64) {
	w.mu.Lock()
	w.removeLocked(token, n)
	w.mu.Unlock()
	w.q.wakeHead()
}

func (w *Window) estimate(n int64) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clk.now()
	w.expire(now)
	if n > w.limit {
		return maxSpan // a queue longer than the window: at least one period
	}
	return w.earliest(w.start(now), n) - now
}

// Wait blocks until n units are granted; see Limiter.Wait.
func (w *Window) Wait(ctx context.Context, n int64) error {
	w.mu.Lock()
	if err := w.check(n); err != nil {
		w.mu.Unlock()
		return err
	}
	if err := ctx.Err(); err != nil {
		w.mu.Unlock()
		return err
	}
	if w.q.empty() {
		if _, ok := w.takeLocked(w.clk.now(), n); ok {
			w.mu.Unlock()
			return nil
		}
	}
	w.mu.Unlock()
	return w.q.wait(ctx, w, &w.clk, n)
}

// Reserve claims n units at the earliest instant they fit, which may be
// now, and returns a Reservation for that instant. It claims nothing and
// returns a *WaitError when that instant is after ctx's deadline.
// Cancel removes the units while the reservation is not yet due.
func (w *Window) Reserve(ctx context.Context, n int64) (*Reservation, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(n); err != nil {
		return nil, err
	}
	now := w.clk.now()
	w.expire(now)
	g := w.earliest(w.start(now), n)
	if dl, ok := ctx.Deadline(); ok && g > w.clk.ns(dl) {
		return nil, &WaitError{Wait: time.Duration(g - now), Deadline: dl}
	}
	w.add(g, n)
	return &Reservation{at: w.clk.at(g), n: n, owner: w, tok: g}, nil
}

func (w *Window) cancelReservation(r *Reservation) {
	w.mu.Lock()
	if w.clk.now() <= r.tok {
		w.removeLocked(r.tok, r.n)
	}
	w.mu.Unlock()
	w.q.wakeHead() // lock order: q.mu before w.mu, so not under w.mu
}

// PauseUntil grants nothing before t. It never shortens a pause already in
// force. ctx is not used.
func (w *Window) PauseUntil(ctx context.Context, t time.Time) error {
	w.mu.Lock()
	now := w.clk.now()
	w.pause = max(w.pause, now+clampSpan(w.clk.ns(t)-now))
	w.mu.Unlock()
	w.q.wakeHead()
	return nil
}

// SetRate changes the count and period, keeping the log of grants: units
// granted stay counted until they leave the new window.
func (w *Window) SetRate(ctx context.Context, r Rate) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if !r.IsInf() && r.Period > time.Duration(maxSpan) {
		return fmt.Errorf("limit: window period %v is longer than %v", r.Period, time.Duration(maxSpan))
	}
	w.mu.Lock()
	w.setRateLocked(r)
	w.mu.Unlock()
	w.q.wakeHead()
	return nil
}

var _ Limiter = (*Window)(nil)
