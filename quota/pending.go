package quota

import "time"

// Requests in flight are answered out of order: of 32 requests sent at
// once on loopback, the server counted some before requests granted
// earlier (Go schedules their connections' goroutines in no set order). The
// response to a request granted late may thus report a count that misses
// requests granted before it; taking it as counting every earlier grant
// (the mark) let a Shopify bucket of 40 be overrun by 7 to 12 requests in
// the first 15 ms of the cmd/sluice demo. So a response is taken to count
// only the earlier grants already answered: those still unanswered stay in
// flight (lag) until answered, and a response to an earlier grant that
// reports less remaining than known (the server counted it after the
// response applied) lowers the count.

// maxPending bounds the unanswered grants a bucket tracks; beyond it (a
// caller that never calls done) grants are counted by mark alone.
const maxPending = 1024

// pendingGrant is a grant not answered yet: b.spent right after it (its
// mark) and its units.
type pendingGrant struct {
	mark, units float64
}

// answered forgets the pending grant of the given mark. Requires
// Tracker.mu held.
func (b *bucket) answered(mark float64) {
	for i, p := range b.pending {
		if p.mark == mark {
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
			return
		}
	}
}

// lagBefore returns the units of unanswered grants before mark. Requires
// Tracker.mu held.
func (b *bucket) lagBefore(mark float64) float64 {
	var n float64
	for _, p := range b.pending {
		if p.mark >= mark {
			break
		}
		n += p.units
	}
	return n
}

// concurrentRemaining returns the remaining count to hold after fresh
// observation o, from the request whose grant left b.spent at mark. A
// request granted before the response applied last arrived may have been
// counted before that response's request although answered after it (its
// response was slower): its count may miss requests already answered, so
// it may lower what is available but not raise it. A request granted later
// was counted after it, and its count is taken as it is. Which came first
// is told by the marks, not the clock: a window's quota granted at its
// reset instant and answered at that instant too (zero latency, or a
// coarse clock) was all "granted at obsAt" and so taken as counted after,
// and a count missing earlier answers let 1 to 20 requests past GitHub's
// fixed window once the Tracker granted a whole window in one pass.
// Requires Tracker.mu held.
func (b *bucket) concurrentRemaining(o Observation, mark float64, now time.Time) float64 {
	if o.Remaining < 0 || b.remaining < 0 || mark > b.obsSpent {
		return o.Remaining
	}
	held := b.available(now) + (b.spent - mark) + b.lagBefore(mark)
	return max(min(o.Remaining, held), 0)
}

// lag returns the units of grants made before the one whose response was
// applied last that are still unanswered: the server may not have counted
// them yet. Requires Tracker.mu held.
func (b *bucket) lag() float64 { return b.lagBefore(b.applied) }

// applyStale takes in the observation of a response to a request granted
// before the one applied last: if it reports less remaining than the
// Tracker holds (refill included), the server counted that request after
// the response applied last, and its count is the better one. Requires
// Tracker.mu held.
func (b *bucket) applyStale(o Observation, now time.Time) {
	if o.Remaining < 0 || b.remaining < 0 {
		return
	}
	held := b.remaining
	if b.rate > 0 {
		held += b.paceRate() * max(now.Sub(b.obsAt).Seconds(), 0)
	}
	if b.limit >= 0 {
		held = min(held, b.limit)
	}
	if o.Remaining < held {
		b.remaining, b.obsAt, b.obsSpent = o.Remaining, now, b.spent
		if !b.refills() && o.Reset.After(now) && (b.reset.IsZero() || o.Reset.Before(b.reset)) {
			// Its count comes with its own, sooner reset (a short
			// secondary window): keeping the stored hourly one would
			// hold the bucket empty until then.
			b.reset = o.Reset
		}
	}
}
