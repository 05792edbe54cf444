package redislimit

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stats are a limiter's counters since it was built.
type Stats struct {
	// Calls is the number of script calls sent to Redis (round trips,
	// not counting the EVAL that loads a script the server had not cached).
	Calls int64
	// Errors is the number of calls that failed or exceeded the timeout.
	Errors int64
	// Fallbacks is the number of decisions made by the failure policy,
	// with or without trying Redis first.
	Fallbacks int64
	// Outages is the number of times the failure policy engaged.
	Outages int64
	// Down reports whether the failure policy is engaged now.
	Down bool
	// LeaseHits is the number of decisions served from leased units,
	// without a round trip.
	LeaseHits int64
	// LocalDenials is the number of Allow calls refused without a round
	// trip because Redis had refused a single unit until a later instant.
	LocalDenials int64
	// Repaid is the number of units the local fallback granted that were
	// charged to Redis when it answered again (see the package
	// documentation on the fallback's overshoot bound).
	Repaid int64
}

// counters back Stats; all fields are atomics.
type counters struct {
	calls, errors, fallbacks, outages, leaseHits, localDenials, repaid atomic.Int64
}

// Stats returns a snapshot of the limiter's counters.
func (l *Limiter) Stats() Stats {
	return Stats{
		Calls:        l.stats.calls.Load(),
		Errors:       l.stats.errors.Load(),
		Fallbacks:    l.stats.fallbacks.Load(),
		Outages:      l.stats.outages.Load(),
		Down:         l.health.down.Load(),
		LeaseHits:    l.stats.leaseHits.Load(),
		LocalDenials: l.stats.localDenials.Load(),
		Repaid:       l.stats.repaid.Load(),
	}
}

// health tracks whether Redis is usable. While down, calls are skipped
// until nextProbe; then one call at a time (the probe) tries Redis again.
type health struct {
	down      atomic.Bool
	since     atomic.Int64 // unix ns when it went down
	nextProbe atomic.Int64 // unix ns
	probing   atomic.Bool
}

// errSkipped is the cause reported when a call was not tried because Redis
// is down and not due for a probe.
var errSkipped = errors.New("redislimit: redis marked down, not probed yet")

// call runs script s in one round trip, bounded by the timeout. It returns
// the caller's own context error unchanged (not a Redis failure), and
// otherwise marks Redis down or up. A non-nil error other than the caller's
// context error means the failure policy decides.
func (l *Limiter) call(ctx context.Context, s *redis.Script, keys []string, args ...any) (any, error) {
	if l.health.down.Load() {
		if l.now().UnixNano() < l.health.nextProbe.Load() || !l.health.probing.CompareAndSwap(false, true) {
			return nil, errSkipped
		}
		defer l.health.probing.Store(false)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.stats.calls.Add(1)
	v, err := l.run(ctx, s, keys, args)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		l.stats.errors.Add(1)
		l.afterError(err)
		l.markDown(err)
		return nil, err
	}
	if l.markUp() {
		l.repay(ctx)
	}
	return v, nil
}

// run sends the script with the timeout applied. For clients that ignore
// context deadlines the call runs in a goroutine (tracked by wg) and run
// stops waiting for it at the timeout.
func (l *Limiter) run(ctx context.Context, s *redis.Script, keys []string, args []any) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	if !l.guard {
		return s.Run(ctx, l.client, keys, args...).Result()
	}
	type reply struct {
		v   any
		err error
	}
	ch := make(chan reply, 1)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		v, err := s.Run(ctx, l.client, keys, args...).Result()
		ch <- reply{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Limiter) markDown(err error) {
	now := l.now()
	probe := l.opts.ProbeInterval
	if l.isCluster() {
		// the slot map reloads in the background: look again soon, so a
		// promoted replica is used within about a quarter of the interval
		probe /= 4
	}
	l.health.nextProbe.Store(now.Add(probe).UnixNano())
	if l.health.down.CompareAndSwap(false, true) {
		l.health.since.Store(now.UnixNano())
		l.stats.outages.Add(1)
		if l.opts.OnFailure == FailLocal {
			l.drainFallback()
		}
		l.log.Warn("redislimit: redis unavailable, failure policy engaged",
			"limiter", l.name, "policy", l.opts.OnFailure.String(), "err", err)
	}
}

// markUp records that Redis answered, and reports whether the failure
// policy was engaged until now.
func (l *Limiter) markUp() bool {
	if l.health.down.CompareAndSwap(true, false) {
		down := l.now().Sub(time.Unix(0, l.health.since.Load()))
		l.log.Info("redislimit: redis answers again, failure policy released",
			"limiter", l.name, "policy", l.opts.OnFailure.String(), "down_for", down.Round(time.Millisecond))
		return true
	}
	return false
}

// unavailable wraps a Redis failure for FailDeny.
func unavailable(err error) error {
	if errors.Is(err, errSkipped) {
		err = nil
	}
	return &UnavailableError{Err: err}
}
