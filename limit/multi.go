package limit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// local is the protocol between a Multi and the limiters of this package:
// take at once, and give back exactly what was taken.
type local interface {
	Limiter
	Rate() Rate
	grab(n int64) (r Result, ok bool, token int64, err error)
	ungrab(n, token int64)
	estimate(n int64) int64
}

// Multi applies several limits at once, all or nothing: a request refused
// by one member (say the daily window) takes nothing from the others (say
// the per-second bucket).
//
// Members from this package (*Bucket, *Window, *Multi is not one) are taken
// from one after another and, when a later one refuses, the earlier grants
// are undone exactly, so no unit is lost. Other Limiters ("foreign" ones,
// such as those of limit/redislimit) are asked after all local members,
// through Reserve: a reservation due at once counts as a grant, one due later
// is cancelled and counts as a refusal. All-or-nothing across foreign members
// therefore holds as far as their Reservation.Cancel gives units back.
//
// Multi has its own wait queue (FIFO, priority, aging as for Bucket); its
// waiters respect the queues of its members (they do not overtake a member's
// own waiters). A Multi is safe for concurrent use.
type Multi struct {
	locals  []local
	foreign []Limiter
	all     []Limiter
	clk     clock
	q       waitQueue
	// foreignUntil (clk ns) is when the foreign members last said they
	// could grant again, 0 after a grant: the wait queue's estimate
	// includes it, so a wait no deadline allows is refused at once
	// instead of queueing until the deadline.
	foreignUntil atomic.Int64
}

// NewMulti returns a Multi over ls, which must not be empty or hold nil.
// The Multi reads time from the first member of this package that has a
// clock (so WithClock on the members is enough), or the real clock.
func NewMulti(ls ...Limiter) (*Multi, error) {
	if len(ls) == 0 {
		return nil, errors.New("limit: NewMulti needs at least one limiter")
	}
	m := &Multi{clk: newClock(nil)}
	m.q.aging = int64(DefaultAging)
	first := true
	for i, l := range ls {
		switch v := l.(type) {
		case nil:
			return nil, fmt.Errorf("limit: NewMulti: limiter %d is nil", i)
		case *Bucket:
			if v == nil {
				return nil, fmt.Errorf("limit: NewMulti: limiter %d is nil", i)
			}
			if first {
				m.clk, m.q.aging, first = v.clk, v.q.aging, false
			}
			m.locals = append(m.locals, v)
		case *Window:
			if v == nil {
				return nil, fmt.Errorf("limit: NewMulti: limiter %d is nil", i)
			}
			if first {
				m.clk, m.q.aging, first = v.clk, v.q.aging, false
			}
			m.locals = append(m.locals, v)
		default:
			m.foreign = append(m.foreign, l)
		}
	}
	m.all = append(m.all, ls...)
	return m, nil
}

// Limiters returns the members, in the order given to NewMulti.
func (m *Multi) Limiters() []Limiter { return append([]Limiter(nil), m.all...) }

// allow takes n from every member or from none.
func (m *Multi) allow(ctx context.Context, n int64) (Result, error) {
	var stack [8]int64
	tokens := stack[:0]
	res := Result{Allowed: true, Remaining: math.MaxInt64}
	undo := func() {
		for i, tok := range tokens {
			m.locals[i].ungrab(n, tok)
		}
	}
	for i, l := range m.locals {
		r, ok, tok, err := l.grab(n)
		if err != nil {
			undo()
			return Result{}, err
		}
		if !ok {
			undo()
			wait := r.RetryAfter
			for j, o := range m.locals {
				if j != i {
					wait = max(wait, time.Duration(o.estimate(n)))
				}
			}
			return Result{RetryAfter: wait, ResetAfter: r.ResetAfter}, nil
		}
		tokens = append(tokens, tok)
		res.Remaining = min(res.Remaining, r.Remaining)
		res.ResetAfter = max(res.ResetAfter, r.ResetAfter)
	}
	if len(m.foreign) == 0 {
		return res, nil
	}
	var rs []*Reservation
	cancelAll := func() {
		for _, r := range rs {
			r.Cancel(ctx)
		}
		undo()
	}
	for _, f := range m.foreign {
		r, err := f.Reserve(ctx, n)
		var we *WaitError
		if errors.As(err, &we) {
			cancelAll()
			m.foreignUntil.Store(m.clk.now() + int64(max(we.Wait, 1)))
			return Result{RetryAfter: max(we.Wait, 1)}, nil
		}
		if err != nil {
			cancelAll()
			return Result{}, err
		}
		rs = append(rs, r)
		if d := time.Until(r.At()); d > 0 {
			cancelAll()
			m.foreignUntil.Store(m.clk.now() + int64(d))
			return Result{RetryAfter: d}, nil
		}
	}
	m.foreignUntil.Store(0)
	return res, nil
}

func (m *Multi) check(n int64) error {
	if n <= 0 {
		return fmt.Errorf("%w: %d", ErrBadCost, n)
	}
	return nil
}

// Allow takes n units from every member if all have them now, and from
// none otherwise. While callers of Wait are queued on the Multi it refuses.
// Result.Remaining is the smallest of the local members'.
func (m *Multi) Allow(ctx context.Context, n int64) (Result, error) {
	if err := m.check(n); err != nil {
		return Result{}, err
	}
	if !m.q.empty() {
		return Result{RetryAfter: time.Duration(max(m.estimate(n+m.q.units.Load()), 1))}, nil
	}
	return m.allow(ctx, n)
}

func (m *Multi) tryTake(ctx context.Context, n int64) (bool, int64, error) {
	r, err := m.allow(ctx, n)
	if err != nil {
		return false, 0, err
	}
	return r.Allowed, max(int64(r.RetryAfter), 1), nil
}

// estimate is the longest of the local members' estimates and of the
// wait the foreign members last reported.
func (m *Multi) estimate(n int64) int64 {
	var d int64
	for _, l := range m.locals {
		d = max(d, l.estimate(n))
	}
	if u := m.foreignUntil.Load(); u != 0 {
		d = max(d, u-m.clk.now())
	}
	return d
}

// Wait blocks until n units are granted by every member; see Limiter.Wait.
// Foreign members are polled (through Reserve and Cancel) when the local
// members allow, so a Multi of only foreign limiters polls at the intervals
// they report.
func (m *Multi) Wait(ctx context.Context, n int64) error {
	if err := m.check(n); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.q.empty() {
		r, err := m.allow(ctx, n)
		if err != nil || r.Allowed {
			return err
		}
	}
	return m.q.wait(ctx, m, &m.clk, n)
}

// Reserve reserves n units on every member and returns one Reservation at
// the latest of their instants; if any member fails, the reservations made so
// far are cancelled and nothing is held. Cancel cancels every member's
// reservation.
func (m *Multi) Reserve(ctx context.Context, n int64) (*Reservation, error) {
	if err := m.check(n); err != nil {
		return nil, err
	}
	rs := make([]*Reservation, 0, len(m.all))
	var at time.Time
	for _, l := range m.all {
		r, err := l.Reserve(ctx, n)
		if err != nil {
			for _, p := range rs {
				p.Cancel(ctx)
			}
			return nil, err
		}
		rs = append(rs, r)
		if r.At().After(at) {
			at = r.At()
		}
	}
	return NewReservation(at, n, func(ctx context.Context) {
		for _, r := range rs {
			r.Cancel(ctx)
		}
		m.q.wakeHead()
	}), nil
}

// PauseUntil pauses every member until t.
func (m *Multi) PauseUntil(ctx context.Context, t time.Time) error {
	var errs []error
	for _, l := range m.all {
		if err := l.PauseUntil(ctx, t); err != nil {
			errs = append(errs, err)
		}
	}
	m.q.wakeHead()
	return errors.Join(errs...)
}

// SetRate changes the rate of the one local member whose Period equals
// r.Period (so a Multi of 10/s and 1000/h takes SetRate(PerHour(2000))).
// It is an error when no local member, or more than one, has that period;
// foreign members are never matched (change them directly).
func (m *Multi) SetRate(ctx context.Context, r Rate) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var match local
	for _, l := range m.locals {
		if lr := l.Rate(); !lr.IsInf() && lr.Period == r.Period {
			if match != nil {
				return fmt.Errorf("limit: Multi.SetRate(%v): more than one member has period %v", r, r.Period)
			}
			match = l
		}
	}
	if match == nil {
		return fmt.Errorf("limit: Multi.SetRate(%v): no member has period %v", r, r.Period)
	}
	err := match.SetRate(ctx, r)
	m.q.wakeHead()
	return err
}

var _ Limiter = (*Multi)(nil)
