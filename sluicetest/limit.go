package sluicetest

import (
	"fmt"
	"math"
	"time"
)

// never is the wait reported when a request can never be granted (a cost
// larger than the limit's capacity, or a rate of zero). It is long enough
// that no test waits for it and short enough to format in every dialect.
const never = 24 * time.Hour

// eps absorbs float rounding in bucket arithmetic, so that a refill of
// exactly one unit is never judged 0.9999999 units.
const eps = 1e-9

type limitKind uint8

const (
	kindNone limitKind = iota
	kindTokenBucket
	kindFixedWindow
	kindLeakyBucket
)

// Limit is the provider's hidden rate limit. The zero Limit is unlimited.
// Build one with TokenBucket, FixedWindow or LeakyBucket. A Limit is a
// value: the provider keeps the state (tokens, counts) itself.
type Limit struct {
	kind   limitKind
	rate   float64       // units per second (token and leaky bucket)
	size   int           // burst, window count or bucket capacity
	window time.Duration // fixed window length
}

// TokenBucket returns a limit that refills rate units per second into a
// bucket holding at most burst units; each request takes its cost from it.
// The bucket starts full. A negative rate or burst counts as zero; a burst
// of zero admits nothing.
func TokenBucket(rate float64, burst int) Limit {
	return Limit{kind: kindTokenBucket, rate: nonNegFloat(rate), size: max(burst, 0)}
}

// FixedWindow returns a GitHub-style limit: at most n units per window, the
// count going back to zero at each window boundary. Windows are aligned to
// the Unix epoch (a 1-minute window resets at every whole minute), so the
// reset instant is a whole second whenever the window is. A window of zero
// or less counts as one second; n below zero counts as zero.
func FixedWindow(n int, window time.Duration) Limit {
	if window <= 0 {
		window = time.Second
	}
	return Limit{kind: kindFixedWindow, size: max(n, 0), window: window}
}

// LeakyBucket returns a Shopify-style limit: a bucket of the given capacity
// that each request fills by its cost and that drains drainPerSec units per
// second. A request that would overflow the bucket is refused. Negative
// arguments count as zero.
func LeakyBucket(capacity int, drainPerSec float64) Limit {
	return Limit{kind: kindLeakyBucket, rate: nonNegFloat(drainPerSec), size: max(capacity, 0)}
}

// IsZero reports whether l is the zero (unlimited) Limit.
func (l Limit) IsZero() bool { return l.kind == kindNone }

// String describes l, for test logs and the demo's output.
func (l Limit) String() string {
	switch l.kind {
	case kindTokenBucket:
		return fmt.Sprintf("token bucket %g/s burst %d", l.rate, l.size)
	case kindFixedWindow:
		return fmt.Sprintf("fixed window %d per %v", l.size, l.window)
	case kindLeakyBucket:
		return fmt.Sprintf("leaky bucket %d draining %g/s", l.size, l.rate)
	}
	return "unlimited"
}

// policy returns the limit as a quota per whole-second window, for dialects
// that state a policy (IETF q and w). Rates below 1/s get a longer window.
func (l Limit) policy() (quota int, windowSec int) {
	switch l.kind {
	case kindFixedWindow:
		return l.size, int(max(1, math.Ceil(l.window.Seconds())))
	case kindTokenBucket, kindLeakyBucket:
		if l.rate <= 0 {
			return l.size, int(never / time.Second)
		}
		w := max(1, math.Ceil(1/l.rate-eps))
		return int(math.Floor(l.rate*w + eps)), int(w)
	}
	return 0, 0
}

func nonNegFloat(f float64) float64 {
	if f > 0 && !math.IsInf(f, 1) {
		return f
	}
	if math.IsInf(f, 1) {
		return math.MaxFloat64
	}
	return 0
}

// quota is a snapshot of a bucket, as the dialects report it.
type quota struct {
	limit     int           // capacity: burst, window count or bucket size
	remaining int           // units that could be taken at once
	used      int           // limit - remaining
	next      time.Duration // until at least one more unit is available (0 if full)
	full      time.Duration // until the whole capacity is available again
}

// bucket is the mutable state of one Limit. It is not safe for concurrent
// use; the Provider guards it with its mu.
type bucket struct {
	l      Limit
	primed bool      // whether last has been set
	last   time.Time // last advance
	tokens float64   // token bucket: units available
	level  float64   // leaky bucket: units in the bucket
	start  time.Time // fixed window: current window start
	count  int       // fixed window: units taken in the window
}

func newBucket(l Limit) bucket {
	return bucket{l: l, tokens: float64(l.size)}
}

// advance brings the state forward to now. A clock that goes backwards is
// treated as standing still.
func (b *bucket) advance(now time.Time) {
	if !b.primed {
		b.primed, b.last = true, now
	}
	el := now.Sub(b.last).Seconds()
	if el < 0 {
		el = 0
	} else {
		b.last = now
	}
	switch b.l.kind {
	case kindTokenBucket:
		b.tokens = math.Min(float64(b.l.size), b.tokens+el*b.l.rate)
	case kindLeakyBucket:
		b.level = math.Max(0, b.level-el*b.l.rate)
	case kindFixedWindow:
		if s := windowStart(now, b.l.window); s.After(b.start) {
			b.start, b.count = s, 0
		}
	}
}

// windowStart returns the start of the epoch-aligned window holding t.
func windowStart(t time.Time, w time.Duration) time.Time {
	off := time.Duration(t.UnixNano() % int64(w))
	if off < 0 {
		off += w
	}
	return t.Add(-off)
}

// wait returns how long until n units could be taken (0 = now), as of the
// last advance. It returns never when n exceeds the capacity or the bucket
// does not refill.
func (b *bucket) wait(n int) time.Duration {
	fn := float64(n)
	switch b.l.kind {
	case kindTokenBucket:
		if b.tokens+eps >= fn {
			return 0
		}
		return rateWait(fn-b.tokens, b.l.rate, n > b.l.size)
	case kindLeakyBucket:
		over := b.level + fn - float64(b.l.size)
		if over <= eps {
			return 0
		}
		return rateWait(over, b.l.rate, n > b.l.size)
	case kindFixedWindow:
		if b.count+n <= b.l.size {
			return 0
		}
		if n > b.l.size {
			return never
		}
		return b.start.Add(b.l.window).Sub(b.last)
	}
	return 0
}

func rateWait(units, rate float64, impossible bool) time.Duration {
	if impossible || rate <= 0 {
		return never
	}
	d := time.Duration(math.Ceil(units / rate * 1e9))
	return min(max(d, 1), never)
}

// take consumes n units; the caller has checked wait(n) == 0.
func (b *bucket) take(n int) {
	switch b.l.kind {
	case kindTokenBucket:
		b.tokens = math.Max(0, b.tokens-float64(n))
	case kindLeakyBucket:
		b.level += float64(n)
	case kindFixedWindow:
		b.count += n
	}
}

// snapshot reports the state as of the last advance.
func (b *bucket) snapshot() quota {
	q := quota{limit: b.l.size}
	switch b.l.kind {
	case kindTokenBucket:
		q.remaining = min(int(math.Floor(b.tokens+eps)), b.l.size)
		if q.remaining < b.l.size {
			q.next = rateWait(float64(q.remaining+1)-b.tokens, b.l.rate, false)
			q.full = rateWait(float64(b.l.size)-b.tokens, b.l.rate, false)
		}
	case kindLeakyBucket:
		used := max(int(math.Ceil(b.level-eps)), 0)
		q.remaining = max(b.l.size-used, 0)
		if used > 0 {
			q.next = rateWait(b.level-float64(used-1), b.l.rate, false)
			q.full = rateWait(b.level, b.l.rate, false)
		}
	case kindFixedWindow:
		q.remaining = max(b.l.size-b.count, 0)
		q.next = b.start.Add(b.l.window).Sub(b.last)
		q.full = q.next
	}
	q.used = q.limit - q.remaining
	return q
}
