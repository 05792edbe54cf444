package redislimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/limit"
)

var _ limit.Limiter = (*Limiter)(nil)

// Allow takes n units if Redis (or, while Redis fails, the failure policy)
// grants them now. It never waits beyond one Redis call, bounded by
// Options.Timeout. With leasing, units leased earlier are spent first.
// After Redis refused a single unit until some instant, Allow refuses
// locally until then, without a round trip.
func (l *Limiter) Allow(ctx context.Context, n int64) (limit.Result, error) {
	if err := l.checkCost(n); err != nil {
		return limit.Result{}, err
	}
	now := l.now()
	if p := time.Duration(l.pausedUntil.Load() - now.UnixNano()); p > 0 {
		return limit.Result{RetryAfter: p, ResetAfter: p}, nil
	}
	if dn := l.denied.Load(); dn != nil && now.Before(dn.until) {
		l.stats.localDenials.Add(1)
		return limit.Result{RetryAfter: dn.until.Sub(now), ResetAfter: max(dn.reset.Sub(now), 0)}, nil
	}
	if l.opts.Lease > 1 {
		return l.allowLeased(ctx, n)
	}
	d, err := l.decide(ctx, n, n, noMaxWait)
	if err != nil {
		return l.allowFailed(ctx, n, err)
	}
	l.noteDenial(d, n)
	return d.result(), nil
}

// noteDenial remembers a refusal of a single unit: no Allow can succeed
// before it may be used, whatever its cost.
func (l *Limiter) noteDenial(d decision, n int64) {
	if d.granted == 0 && n == 1 && d.wait > 0 {
		l.denied.Store(&denial{until: d.now.Add(d.wait), reset: d.now.Add(d.reset)})
	}
}

// Reserve claims n units now or at the earliest future instant Redis
// grants them, in one round trip. It fails with a *limit.WaitError, claiming
// nothing, when that instant is after ctx's deadline. Cancelling the
// reservation gives the units back unless a later grant was queued behind
// them (buckets) or they were already usable (windows); with leasing they
// go back to this worker's pool of leased units.
func (l *Limiter) Reserve(ctx context.Context, n int64) (*limit.Reservation, error) {
	if err := l.checkCost(n); err != nil {
		return nil, err
	}
	if l.opts.Lease > 1 {
		return l.reserveLeased(ctx, n)
	}
	d, err := l.decide(ctx, n, n, maxWait(ctx))
	if err != nil {
		return l.reserveFailed(ctx, n, err)
	}
	if d.granted == 0 {
		return nil, waitError(ctx, d.wait)
	}
	l.denied.Store(nil) // the grant moved the queue: ask Redis next time
	l.recordBooked(d.now.Add(d.wait), n)
	return limit.NewReservation(d.now.Add(d.wait), n, l.canceller(d, n)), nil
}

// Wait reserves n units and sleeps locally until they may be used: Redis
// is asked once, not polled. If ctx ends first, the units are given back and
// ctx.Err() is returned.
func (l *Limiter) Wait(ctx context.Context, n int64) error {
	r, err := l.Reserve(ctx, n)
	if err != nil {
		return err
	}
	d := r.At().Sub(l.now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel(context.WithoutCancel(ctx))
		return ctx.Err()
	}
}

// PauseUntil makes every limiter sharing this name refuse grants until t,
// measured as a duration from now and applied on the Redis clock. A pause
// never shortens a longer one. The pause also holds in this process without
// Redis (leased units are dropped, the fallback is paused). If Redis fails,
// the error is returned (an *UnavailableError) under FailDeny only.
func (l *Limiter) PauseUntil(ctx context.Context, t time.Time) error {
	now := l.now()
	d := t.Sub(now)
	if d <= 0 {
		return nil
	}
	if d > l.opts.MaxPause {
		d, t = l.opts.MaxPause, now.Add(l.opts.MaxPause)
	}
	for {
		cur := l.pausedUntil.Load()
		if cur >= t.UnixNano() || l.pausedUntil.CompareAndSwap(cur, t.UnixNano()) {
			break
		}
	}
	l.mu.Lock()
	l.pool.clear()
	l.mu.Unlock()
	if l.fallback != nil {
		if err := l.fallback.PauseUntil(ctx, t); err != nil {
			return err
		}
	}
	_, err := l.call(ctx, pauseScript, l.pauseKey, micros(d+time.Microsecond-1))
	if err != nil && ctx.Err() == nil && l.opts.OnFailure == FailDeny {
		return unavailable(err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// SetRate changes the rate used by this process's decisions from now on.
// The state in Redis is kept (units spent stay spent). Every process
// sharing the name should set the same rate. For a window limiter, r
// replaces the window with the same period. The local fallback built by the
// limiter follows (Options.Fallback does not: it is the caller's).
func (l *Limiter) SetRate(ctx context.Context, r limit.Rate) error {
	valid := r.Validate
	if l.kind == kindWindow {
		valid = func() error { return validWindow(r) }
	}
	if err := valid(); err != nil {
		return fmt.Errorf("redislimit: %q: %w", l.name, err)
	}
	l.mu.Lock()
	cfg := l.cfg.Load()
	i := 0
	for l.kind == kindWindow && i < len(cfg.rates) && cfg.rates[i].Period != r.Period {
		i++
	}
	if i == len(cfg.rates) {
		l.mu.Unlock()
		return fmt.Errorf("redislimit: %q: no window with period %v", l.name, r.Period)
	}
	rates := append([]limit.Rate(nil), cfg.rates...)
	rates[i] = r
	l.cfg.Store(newRateCfg(l.kind, rates))
	l.denied.Store(nil) // computed at the old rate
	l.handover.mu.Lock()
	l.handover.horizon = horizonOf(l.kind, rates)
	l.handover.mu.Unlock()
	l.mu.Unlock()
	if l.fallbackParts == nil {
		return nil
	}
	if l.kind == kindBucket {
		return l.fallbackParts[i].SetRate(ctx, divide(r, l.opts.ExpectedWorkers))
	}
	return l.fallbackParts[i].SetRate(ctx, divideWindow(r, l.opts.ExpectedWorkers))
}

// checkCost rejects n < 1, and n beyond the burst (bucket) or the smallest
// window count (window), which no wait could ever grant.
func (l *Limiter) checkCost(n int64) error {
	if n < 1 {
		return fmt.Errorf("%w: %d", limit.ErrBadCost, n)
	}
	if most := l.cfg.Load().maxCost; n > most {
		return fmt.Errorf("%w: cost %d, %q allows %d at once", limit.ErrCostExceedsBurst, n, l.name, most)
	}
	return nil
}

// decide runs the limiter's script for n units, taking want >= n (leasing),
// granting only within maxWait microseconds (noMaxWait: only now).
func (l *Limiter) decide(ctx context.Context, n, want, maxWait int64) (decision, error) {
	cfg := l.cfg.Load()
	var mw any = maxWait
	if maxWait == noMaxWait {
		mw = "-1" // a constant: no allocation
	}
	var args []any
	switch l.kind {
	case kindBucket:
		args = []any{cfg.args[0], cfg.args[1], n, want, mw, l.maxPause}
	case kindWindow:
		args = make([]any, 0, 3+len(cfg.args))
		args = append(args, n, mw, l.maxPause)
		args = append(args, cfg.args...)
	}
	s := gcraScript
	if l.kind == kindWindow {
		s = windowScript
	}
	v, err := l.call(ctx, s, l.keys, args...)
	if err != nil {
		return decision{}, err
	}
	return parseDecision(v, l.now())
}

// result converts a decision into an Allow result.
func (d decision) result() limit.Result {
	r := limit.Result{Allowed: d.granted > 0, Remaining: d.remaining, ResetAfter: d.reset}
	if d.remaining < 0 {
		r.Remaining = math.MaxInt64
	}
	if !r.Allowed {
		r.RetryAfter = max(d.wait, time.Microsecond)
	}
	return r
}

// canceller returns the Cancel function of a reservation granted by d.
func (l *Limiter) canceller(d decision, n int64) func(context.Context) {
	if d.token == "" {
		return nil
	}
	if l.kind == kindWindow {
		return func(ctx context.Context) {
			l.denied.Store(nil) // units may come back
			_, _ = l.call(ctx, windowCancelScript, l.keys[:2], d.token)
		}
	}
	r := l.cfg.Load().rates[0]
	back := strconv.FormatFloat(float64(r.Period)/float64(r.Count)/1e3*float64(n), 'f', -1, 64)
	return func(ctx context.Context) {
		l.denied.Store(nil) // units may come back
		_, _ = l.call(ctx, gcraCancelScript, l.keys[:1], d.token, back)
	}
}

// maxWait is the longest wait, in microseconds, that ctx's deadline allows.
func maxWait(ctx context.Context) int64 {
	dl, ok := ctx.Deadline()
	if !ok {
		return foreverMicros
	}
	return max(time.Until(dl).Microseconds(), 0)
}

// waitError reports a grant that would come after ctx's deadline.
func waitError(ctx context.Context, wait time.Duration) error {
	dl, _ := ctx.Deadline()
	return &limit.WaitError{Wait: wait, Deadline: dl}
}

// allowFailed decides Allow by the failure policy, or passes on the
// caller's context error.
func (l *Limiter) allowFailed(ctx context.Context, n int64, err error) (limit.Result, error) {
	if ctx.Err() != nil {
		return limit.Result{}, ctx.Err()
	}
	l.stats.fallbacks.Add(1)
	switch l.opts.OnFailure {
	case FailDeny:
		return limit.Result{}, unavailable(err)
	case FailAllow:
		return limit.Result{Allowed: true}, nil
	}
	if l.fallback == nil {
		return limit.Result{}, unavailable(err)
	}
	r, ferr := l.fallback.Allow(ctx, n)
	if ferr == nil && r.Allowed {
		l.recordFallback(l.now(), n)
	}
	return r, ferr
}

// reserveFailed decides Reserve by the failure policy.
func (l *Limiter) reserveFailed(ctx context.Context, n int64, err error) (*limit.Reservation, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	l.stats.fallbacks.Add(1)
	switch l.opts.OnFailure {
	case FailDeny:
		return nil, unavailable(err)
	case FailAllow:
		return limit.NewReservation(l.now(), n, nil), nil
	}
	if l.fallback == nil {
		return nil, unavailable(err)
	}
	r, ferr := l.fallback.Reserve(ctx, n)
	if ferr == nil {
		l.recordFallback(r.At(), n)
	}
	return r, ferr
}
