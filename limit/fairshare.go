package limit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// This file holds the caps (capSet), the estimates, CapError, the consumer
// context key and Fair's Allow, Reserve, PauseUntil and SetRate.

// capSet enforces one consumer's cap: local limiters taken all or nothing
// (exactly undone), or one foreign limiter (NewCap's) through Allow.
type capSet struct {
	rates   []Rate // the scaled rates
	locals  []local
	foreign Limiter
}

// ScaleRate returns the share (in (0, 1]) of r: its count scaled, its
// period kept, and its burst scaled and rounded down, but at least 1. The
// count is kept to a thousandth of a unit per period.
func ScaleRate(r Rate, share float64) Rate {
	if r.IsInf() || share >= 1 || share <= 0 {
		return r
	}
	b := int64(math.Floor(float64(r.BurstOrCount()) * share))
	const k = 1000
	if r.Period <= time.Duration(math.MaxInt64/k) && float64(r.Count)*k*share < float64(math.MaxInt64) {
		if c := int64(float64(r.Count) * k * share); c > 0 {
			return Rate{Count: c, Period: r.Period * k, Burst: max(b, 1)}
		}
	}
	return Rate{Count: max(int64(float64(r.Count)*share), 1), Period: r.Period, Burst: max(b, 1)}
}

func (f *Fair) newCapSet(name string, share float64) (*capSet, error) {
	if len(f.rates) == 0 {
		return nil, fmt.Errorf("limit: consumer %q has a cap but the Fair limiter has no FairOptions.Rates to scale", name)
	}
	cs := &capSet{}
	for _, r := range f.rates {
		cs.rates = append(cs.rates, ScaleRate(r, share))
	}
	if f.newCap != nil {
		l, err := f.newCap(name, cs.rates)
		if err != nil {
			return nil, fmt.Errorf("limit: cap of consumer %q: %w", name, err)
		}
		if l == nil {
			return nil, fmt.Errorf("limit: cap of consumer %q: NewCap returned nil", name)
		}
		if lo, ok := l.(local); ok {
			cs.locals = []local{lo}
		} else {
			cs.foreign = l
		}
		return cs, nil
	}
	for _, r := range cs.rates {
		b, err := NewBucket(r, WithClock(f.clk.c))
		if err != nil {
			return nil, fmt.Errorf("limit: cap of consumer %q: %w", name, err)
		}
		cs.locals = append(cs.locals, b)
	}
	return cs, nil
}

func (cs *capSet) members() []Limiter {
	if cs.foreign != nil {
		return []Limiter{cs.foreign}
	}
	out := make([]Limiter, len(cs.locals))
	for i, l := range cs.locals {
		out[i] = l
	}
	return out
}

// take takes n units of the cap now, or says how long (ns, > 0) until it
// might; undo gives them back. err ends the wait (a cost over the cap's
// burst, a foreign cap that failed).
func (cs *capSet) take(ctx context.Context, n int64) (undo func(), ok bool, retry int64, err error) {
	if cs.foreign != nil {
		// Allow, not Reserve: a reservation cancelled while another
		// process holds a later one gives nothing back, which cost a
		// quarter of a cap shared by two processes. The price: units of a
		// granted cap are not returned when the inner limiter then refuses.
		r, err := cs.foreign.Allow(ctx, n)
		switch {
		case err != nil:
			return nil, false, 0, err
		case !r.Allowed:
			return nil, false, max(int64(r.RetryAfter), 1), nil
		}
		return nil, true, 0, nil
	}
	toks := make([]int64, 0, len(cs.locals))
	undoN := func(k int) {
		for i := range k {
			cs.locals[i].ungrab(n, toks[i])
		}
	}
	for i, l := range cs.locals {
		r, ok, tok, err := l.grab(n)
		if err != nil || !ok {
			undoN(i)
			if err != nil {
				return nil, false, 0, err
			}
			wait := int64(r.RetryAfter)
			for _, o := range cs.locals {
				wait = max(wait, o.estimate(n))
			}
			return nil, false, max(wait, 1), nil
		}
		toks = append(toks, tok)
	}
	return func() { undoN(len(cs.locals)) }, true, 0, nil
}

// estimate is a lower bound on the time until the cap could grant u units.
func (cs *capSet) estimate(u int64) int64 {
	var est func(int64) int64
	if cs.foreign == nil {
		est = func(n int64) int64 {
			var d int64
			for _, l := range cs.locals {
				d = max(d, l.estimate(n))
			}
			return d
		}
	}
	return lowerBound(est, cs.rates, u)
}

// setRate sets the cap of rate i (of FairOptions.Rates) to share of r,
// when the cap is the default one Bucket per rate.
func (cs *capSet) setRate(ctx context.Context, i int, r Rate, share float64) error {
	if cs.foreign != nil || len(cs.locals) != len(cs.rates) || i >= len(cs.locals) {
		return nil // NewCap's limiter is changed by its owner
	}
	cs.rates[i] = ScaleRate(r, share)
	return cs.locals[i].SetRate(ctx, cs.rates[i])
}

// lowerBound is a lower bound on the time until u units could be granted
// by a limiter of rates whose own estimate (for at most its burst) is est
// (nil for a limiter that cannot estimate): the estimate for the first
// burst, then one interval per unit beyond it.
func lowerBound(est func(int64) int64, rates []Rate, u int64) int64 {
	var d int64
	minBurst := int64(math.MaxInt64)
	for _, r := range rates {
		if r.IsInf() || r.Count <= 0 {
			continue
		}
		b := r.BurstOrCount()
		minBurst = min(minBurst, b)
		if over := u - b; over > 0 {
			iv := int64(r.Interval())
			d = max(d, min(over, maxSpan/max(iv, 1))*iv)
		}
	}
	if est != nil {
		d = max(d, est(min(u, minBurst)))
	}
	return min(d, maxSpan)
}

// estimateUnits is a lower bound on the time until the inner limiter could
// grant u units.
func (f *Fair) estimateUnits(u int64) int64 {
	var est func(int64) int64
	if f.est != nil {
		est = f.est.estimate
	}
	f.mu.Lock()
	rates := f.rates
	f.mu.Unlock()
	return lowerBound(est, rates, u)
}

// lateLocked returns a *WaitError (a *CapError when the consumer's cap is
// the reason) when w's turn cannot come by dl.
// requires f.mu held
func (f *Fair) lateLocked(w *fairWaiter, now int64, dl time.Time) error {
	c := w.c
	var a int64 // c's units up to and including w
	for _, o := range c.q {
		a += o.n
		if o == w {
			break
		}
	}
	ahead := a
	for _, d := range f.act {
		if d != c && d.cap == nil { // capped consumers may not take their weight's part
			ahead += min(d.units, int64(float64(a)*d.weight/c.weight))
		}
	}
	var est func(int64) int64
	if f.est != nil {
		est = f.est.estimate
	}
	route := lowerBound(est, f.rates, ahead)
	var capped int64
	if c.cap != nil {
		capped = max(c.cap.estimate(a), c.capAt-now)
	}
	wait := max(route, capped)
	if now+wait <= f.clk.ns(dl) {
		return nil
	}
	we := &WaitError{Wait: time.Duration(wait), Deadline: dl}
	if capped > route {
		return &CapError{Consumer: c.name, Cap: c.share, WaitError: we}
	}
	return we
}

// CapError reports that a consumer's cap (Share.Cap) would make a request
// wait past its deadline. It unwraps to the *WaitError, so it matches
// ErrWouldExceedDeadline.
type CapError struct {
	// Consumer is the capped consumer.
	Consumer string
	// Cap is its fraction of the rate.
	Cap float64
	*WaitError
}

// Error implements error.
func (e *CapError) Error() string {
	return fmt.Sprintf("limit: consumer %q is capped at %g of the rate and would wait %v, past the context deadline",
		e.Consumer, e.Cap, e.Wait.Round(time.Millisecond))
}

// Unwrap returns the *WaitError.
func (e *CapError) Unwrap() error { return e.WaitError }

type consumerKey struct{}

// WithConsumer returns a context whose requests a Fair limiter counts as
// consumer name's.
func WithConsumer(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, consumerKey{}, name)
}

// ConsumerFrom returns the consumer named on ctx, or "".
func ConsumerFrom(ctx context.Context) string {
	s, _ := ctx.Value(consumerKey{}).(string)
	return s
}

// Allow takes n units now if nobody is waiting, the consumer's cap allows
// and the inner limiter allows; see Limiter.Allow.
func (f *Fair) Allow(ctx context.Context, n int64) (Result, error) {
	both, queued, err := f.forCall(ctx, n)
	if err != nil {
		return Result{}, err
	}
	if queued > 0 {
		return Result{RetryAfter: time.Duration(max(f.estimateUnits(queued+n), 1))}, nil
	}
	return both.Allow(ctx, n)
}

// Reserve reserves n units of the consumer's cap and of the inner limiter
// at once, outside the fair order (as Reserve is outside a Bucket's queue).
func (f *Fair) Reserve(ctx context.Context, n int64) (*Reservation, error) {
	both, _, err := f.forCall(ctx, n)
	if err != nil {
		return nil, err
	}
	return both.Reserve(ctx, n)
}

func (f *Fair) forCall(ctx context.Context, n int64) (Limiter, int64, error) {
	if n <= 0 {
		return nil, 0, fmt.Errorf("%w: %d", ErrBadCost, n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.consumerLocked(ConsumerFrom(ctx))
	if err != nil {
		return nil, 0, err
	}
	var queued int64
	for _, o := range f.act {
		queued += o.units
	}
	return c.both, queued, nil
}

// PauseUntil pauses the inner limiter.
func (f *Fair) PauseUntil(ctx context.Context, t time.Time) error { return f.inner.PauseUntil(ctx, t) }

// SetRate changes the rate of the inner limiter and, scaled, of the local
// caps whose rate has the same period.
func (f *Fair) SetRate(ctx context.Context, r Rate) error {
	if err := f.inner.SetRate(ctx, r); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for i, o := range f.rates {
		if o.Period != r.Period {
			continue
		}
		f.rates = append([]Rate(nil), f.rates...) // copied: estimateUnits reads it unlocked
		f.rates[i] = r
		for _, c := range f.cons {
			if c.cap != nil {
				errs = append(errs, c.cap.setRate(ctx, i, r, c.share))
			}
		}
	}
	return errors.Join(errs...)
}
