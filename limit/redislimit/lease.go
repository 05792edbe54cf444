package redislimit

import (
	"context"
	"slices"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// unit is one leased unit: granted by Redis for use from at, and dropped
// if still unused after exp.
type unit struct {
	at, exp time.Time
}

// pool holds the units a worker leased and has not spent yet, oldest first.
type pool struct {
	units []unit
	reset time.Time // when the bucket is full again, as of the last lease
}

func (p *pool) clear() { p.units = p.units[:0] }

// find locates n units to spend at the earliest instant from now on at
// which all n are usable and none has expired: units[i:i+n], usable from
// at. Units before i can no longer be spent in time. ok is false when fewer
// than n such units are left.
func (p *pool) find(n int64, now time.Time) (i int, at time.Time, ok bool) {
	for len(p.units) > 0 && p.units[0].exp.Before(now) {
		p.units = p.units[1:]
	}
	for ; i+int(n) <= len(p.units); i++ {
		at = p.units[i+int(n)-1].at
		if at.Before(now) {
			at = now
		}
		if !at.After(p.units[i].exp) {
			return i, at, true
		}
	}
	return len(p.units), time.Time{}, false
}

// take removes units[i:i+n] and the units before them, returning the n.
func (p *pool) take(i int, n int64) []unit {
	got := slices.Clone(p.units[i : i+int(n)])
	p.units = p.units[i+int(n):]
	return got
}

// give puts units back, keeping the pool ordered.
func (p *pool) give(us []unit) {
	p.units = append(p.units, us...)
	slices.SortFunc(p.units, func(a, b unit) int { return a.at.Compare(b.at) })
}

// usableNow counts the units usable at now.
func (p *pool) usableNow(now time.Time) int64 {
	var k int64
	for _, u := range p.units {
		if u.at.After(now) {
			break
		}
		k++
	}
	return k
}

// maxLeaseRounds bounds how often a call waits for another goroutine's
// lease before leasing beside it.
const maxLeaseRounds = 4

// allowLeased is Allow with leasing: spend leased units that are usable
// now; when too few are left, one goroutine at a time leases Lease more
// while the others wait for its reply.
func (l *Limiter) allowLeased(ctx context.Context, n int64) (limit.Result, error) {
	for round := 0; ; round++ {
		if round > 0 {
			if dn := l.denied.Load(); dn != nil {
				if now := l.now(); now.Before(dn.until) {
					l.stats.localDenials.Add(1)
					return limit.Result{RetryAfter: dn.until.Sub(now), ResetAfter: max(dn.reset.Sub(now), 0)}, nil
				}
			}
		}
		l.mu.Lock()
		now := l.now() // under mu: units added by a lease are never after it
		if i, at, ok := l.pool.find(n, now); ok {
			if at.After(now) {
				// Redis holds nothing earlier: its TAT is past our units.
				reset := max(l.pool.reset.Sub(now), 0)
				l.mu.Unlock()
				l.stats.leaseHits.Add(1)
				return limit.Result{RetryAfter: at.Sub(now), ResetAfter: reset}, nil
			}
			l.pool.take(i, n)
			res := limit.Result{Allowed: true, Remaining: l.pool.usableNow(now), ResetAfter: max(l.pool.reset.Sub(now), 0)}
			l.mu.Unlock()
			l.stats.leaseHits.Add(1)
			return res, nil
		}
		want := max(n, l.opts.Lease)
		if f := l.flight; f != nil && round < maxLeaseRounds {
			l.mu.Unlock()
			if err := waitFlight(ctx, f); err != nil {
				return limit.Result{}, err
			}
			continue
		}
		done := l.startFlight() // nil when another is in flight: lease beside it
		l.mu.Unlock()
		d, err := l.decide(ctx, n, want, noMaxWait)
		if err == nil {
			l.noteDenial(d, n) // before waking the others: they see it
		}
		l.endFlight(done, d, n, err)
		if err != nil {
			return l.allowFailed(ctx, n, err)
		}
		return d.result(), nil
	}
}

// reserveLeased is Reserve with leasing.
func (l *Limiter) reserveLeased(ctx context.Context, n int64) (*limit.Reservation, error) {
	for round := 0; ; round++ {
		mw := maxWait(ctx)
		l.mu.Lock()
		now := l.now()
		if i, at, ok := l.pool.find(n, now); ok {
			if wait := at.Sub(now); wait.Microseconds() > mw {
				l.mu.Unlock()
				return nil, waitError(ctx, wait)
			}
			got := l.pool.take(i, n)
			l.mu.Unlock()
			l.stats.leaseHits.Add(1)
			return limit.NewReservation(at, n, func(context.Context) {
				l.mu.Lock()
				l.pool.give(got)
				l.mu.Unlock()
			}), nil
		}
		want := max(n, l.opts.Lease)
		if f := l.flight; f != nil && round < maxLeaseRounds {
			l.mu.Unlock()
			if err := waitFlight(ctx, f); err != nil {
				return nil, err
			}
			continue
		}
		done := l.startFlight()
		l.mu.Unlock()
		d, err := l.decide(ctx, n, want, mw)
		l.endFlight(done, d, n, err)
		if err != nil {
			return l.reserveFailed(ctx, n, err)
		}
		if d.granted == 0 {
			return nil, waitError(ctx, d.wait)
		}
		l.denied.Store(nil)
		// Cancel puts the caller's units into the pool, beside the leased
		// extras, all usable from at: no round trip, and this worker keeps
		// its place in the queue.
		at := d.now.Add(d.wait)
		return limit.NewReservation(at, n, func(context.Context) {
			// The first of the n units was scheduled up to n-1 intervals
			// before at: expire them all as early as it would.
			exp := at.Add(max(l.leaseTTL()-time.Duration(n-1)*l.cfg.Load().interval, 0))
			back := make([]unit, n)
			for i := range back {
				back[i] = unit{at: at, exp: exp}
			}
			l.mu.Lock()
			l.pool.give(back)
			l.mu.Unlock()
		}), nil
	}
}

// leaseTTL is how long a leased unit stays spendable after it becomes
// usable: Options.LeaseTTL, or Lease x ExpectedWorkers intervals.
func (l *Limiter) leaseTTL() time.Duration {
	if l.opts.LeaseTTL > 0 {
		return l.opts.LeaseTTL
	}
	return l.cfg.Load().interval * time.Duration(l.opts.Lease*int64(l.opts.ExpectedWorkers))
}

// startFlight marks a lease call in flight unless one already is;
// requires l.mu held.
func (l *Limiter) startFlight() chan struct{} {
	if l.flight != nil {
		return nil
	}
	done := make(chan struct{})
	l.flight = done
	return done
}

// endFlight adds the leased extras of d to the pool and wakes the
// goroutines waiting for them.
func (l *Limiter) endFlight(done chan struct{}, d decision, n int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	slack := l.leaseTTL()
	if err == nil && d.granted > n && slack > 0 {
		for _, e := range d.extras {
			at := d.now.Add(e)
			l.pool.units = append(l.pool.units, unit{at: at, exp: at.Add(slack)})
		}
		slices.SortFunc(l.pool.units, func(a, b unit) int { return a.at.Compare(b.at) })
		l.pool.reset = d.now.Add(d.reset)
	}
	if done != nil {
		l.flight = nil
		close(done)
	}
}

// waitFlight waits for a lease call in flight to end, or for ctx.
func waitFlight(ctx context.Context, f chan struct{}) error {
	select {
	case <-f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
