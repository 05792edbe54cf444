package limit

import "time"

// Clock tells the time. Limiters read it on every decision; a nil Clock
// means the real clock (which is also the fake one inside a testing/synctest
// bubble).
type Clock interface {
	Now() time.Time
}

// Option configures a limiter built by NewBucket or NewWindow.
type Option func(*options)

type options struct {
	clock Clock
	aging time.Duration
}

// DefaultAging is how much waiting time one priority level is worth when
// none is given with WithAging: a waiter is overtaken only by waiters of a
// higher priority q that arrive less than (q-p)*DefaultAging after it.
const DefaultAging = time.Second

// WithClock makes the limiter read time from c instead of the real clock.
// A nil c means the real clock.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithAging sets how much waiting time one priority level is worth, which
// bounds how long a low-priority waiter can be overtaken (see the package
// documentation). Zero or negative means DefaultAging.
func WithAging(d time.Duration) Option { return func(o *options) { o.aging = d } }

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if o.aging <= 0 {
		o.aging = DefaultAging
	}
	return o
}

// clock turns time into int64 nanoseconds since a base instant. With the
// real clock the base carries a monotonic reading, so now is one
// time.Since (a monotonic clock read, about half the cost of time.Now).
type clock struct {
	base time.Time
	c    Clock // nil: real time
}

func newClock(c Clock) clock {
	if c == nil {
		return clock{base: time.Now()}
	}
	return clock{base: c.Now(), c: c}
}

// now is small enough to be inlined into the Allow paths.
func (k *clock) now() int64 {
	if k.c != nil {
		return k.injected()
	}
	return int64(time.Since(k.base))
}

func (k *clock) injected() int64 { return int64(k.c.Now().Sub(k.base)) }

// at converts nanoseconds since the base back to a time.Time.
func (k *clock) at(ns int64) time.Time { return k.base.Add(time.Duration(ns)) }

// ns converts t to nanoseconds since the base, saturating.
func (k *clock) ns(t time.Time) int64 { return int64(t.Sub(k.base)) }

// maxSpan bounds every interval the limiters add to a time (tau, a pause,
// a cost times the interval): 2^60 ns is about 36 years, so sums of a few of
// them with a time since the base can never overflow int64.
const maxSpan = int64(1) << 60

func clampSpan(d int64) int64 {
	if d > maxSpan {
		return maxSpan
	}
	if d < -maxSpan {
		return -maxSpan
	}
	return d
}
