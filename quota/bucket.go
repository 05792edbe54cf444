package quota

import (
	"log/slog"
	"math"
	"time"
)

// unknownProbe is the longest a bucket reported empty, with neither a reset
// nor a known refill rate, holds requests before letting one through to
// learn more (see probe.go).
const unknownProbe = time.Second

// Safety margins that leave room for network and scheduling jitter: a
// request paced to arrive exactly when the server's bucket has a unit may
// arrive a little early (a faster path, a delayed predecessor, clock
// rounding) and be throttled. On loopback, pacing at exactly the learned
// rate drew 29 throttles in 500 requests (cmd/sluice demo).
const (
	// paceMargin is the share of a learned refill rate the Tracker paces
	// to: a bucket refilling at 50/s is paced at 49/s.
	paceMargin = 0.98
	// headroom is the number of units the Tracker leaves in a bucket (of
	// a limit of at least minHeadroomLimit), so that one request arriving
	// early finds a unit still there instead of a throttle.
	headroom         = 1.0
	minHeadroomLimit = 10
)

// minMeasure is the shortest interval over which a refill rate is measured
// from two responses.
const minMeasure = 100 * time.Millisecond

// bucket is the Tracker's view of one provider bucket. All fields are
// guarded by Tracker.mu.
type bucket struct {
	host, name string
	unit       Unit
	limit      float64   // Unknown if not reported
	remaining  float64   // as of obsAt; Unknown if not reported
	obsAt      time.Time // local time of the last applied observation
	obsSpent   float64   // spent at obsAt: grants of a mark above it came after
	reset      time.Time // zero if unknown
	lastReset  time.Time // the reset that passed last (rollover), for Stats
	window     time.Duration
	continuous bool    // the dialect says it refills steadily
	rate       float64 // refill in units/s (stated, implied or measured); 0 unknown

	spent   float64 // units granted, in total
	applied float64 // spent as of the grant whose response was applied last

	tat         time.Time // spreading schedule: theoretical arrival time
	lastGrant   time.Time
	pausedUntil time.Time
	pauseLogged bool
	loggedPace  float64
	inflight    float64        // concurrent-requests buckets
	pending     []pendingGrant // grants not answered yet, in grant order

	// a fixed window counted by response (see window.go)
	windowed   bool           // the count below is kept by response
	unseen     []pendingGrant // grants in the window whose response was not seen, in grant order
	unseenLost float64        // units of unseen grants beyond maxPending
	answerTime time.Duration  // smoothed time from grant to response
	probes     uint           // probes of an empty bucket of unknown refill since it last had units (probe.go)

	// the previous applied point, to measure a refill rate
	prevRem  float64
	prevAt   time.Time
	prevMark float64

	routes    map[string]bool
	allRoutes bool
	throttles int64
	lastUsed  time.Time
}

// applies reports whether a request on route draws on b.
func (b *bucket) applies(route string) bool {
	return route == "" || b.allRoutes || len(b.routes) == 0 || b.routes[route]
}

// units returns what cost draws from b.
func (b *bucket) units(c Cost) float64 {
	switch b.unit {
	case Requests, ConcurrentRequests:
		return float64(c.Requests)
	case Tokens, InputTokens:
		return float64(c.Tokens)
	}
	return 0
}

// refills reports whether b refills steadily rather than at a window reset.
func (b *bucket) refills() bool { return b.rate > 0 || b.continuous }

// rollover starts a new fixed window once the reset has passed.
func (b *bucket) rollover(now time.Time) {
	if b.refills() || b.reset.IsZero() || now.Before(b.reset) {
		return
	}
	b.remaining = b.limit
	b.lastReset = b.reset
	b.obsAt, b.obsSpent = b.reset, b.spent
	b.applied = b.spent
	b.forgetAnswered()
	b.tat = time.Time{}
	b.reset = time.Time{}
	if b.window > 0 {
		if next := b.obsAt.Add(b.window); next.After(now) {
			b.reset = next
		}
	}
}

// available returns the units b can grant at now: the last remaining count,
// plus the refill since, minus what was granted since the request whose
// response was applied last (those may not be counted yet: in flight).
// +Inf means unknown (no limit known).
func (b *bucket) available(now time.Time) float64 {
	if b.remaining < 0 {
		return math.Inf(1)
	}
	r := b.remaining
	if b.windowed && !b.refills() {
		if b.limit >= 0 {
			r = min(r, b.limit)
		}
		return r - b.unseenUnits()
	}
	switch {
	case b.rate > 0:
		r += b.paceRate() * max(now.Sub(b.obsAt).Seconds(), 0)
	case b.continuous && !b.reset.IsZero() && !now.Before(b.reset) && b.limit >= 0:
		r = b.limit
	}
	if b.limit >= 0 {
		r = min(r, b.limit)
	}
	return r - (b.spent - b.applied) - b.lag()
}

// paceRate is the refill rate b is paced to: the learned rate less the
// safety margin.
func (b *bucket) paceRate() float64 { return b.rate * paceMargin }

// keep returns the units left in b as headroom for a request of need
// units: headroom when the limit is large enough (and the request does not
// need all of it), none otherwise.
//
// A fixed window keeps none: its count resets at once, so a unit kept back
// is simply lost, and a job that is a multiple of the window's limit then
// waits one whole window more for its last request.
func (b *bucket) keep(need float64) float64 {
	if b.limit < minHeadroomLimit || b.unit == ConcurrentRequests || !b.refills() {
		return 0
	}
	return min(headroom, max(b.limit-need, 0))
}

// spreads reports whether b is a fixed window whose rest is spread over the
// time to its reset.
func (b *bucket) spreads(now time.Time) bool {
	return !b.refills() && b.remaining >= 0 && b.reset.After(now)
}

// earliest returns when b lets a request drawing units go. A paced request
// (Cost.Paced: the caller holds it to a configured rate) is not held for a
// probe of an empty bucket whose refill is unknown: the configured rate
// paces it until b learns its own. Requires Tracker.mu held.
func (b *bucket) earliest(now time.Time, units, burstFrac float64, paced bool) time.Time {
	b.rollover(now)
	if b.pausedUntil.After(now) {
		return b.pausedUntil
	}
	if b.unit == ConcurrentRequests {
		return now // reported, not enforced: nothing signals a slot freeing
	}
	need := max(units, 1)
	if b.limit > 0 {
		need = min(need, b.limit) // more than the limit can never fit: let the server decide
	}
	avail := b.available(now) - b.keep(need)
	if avail >= need {
		if b.spreads(now) && b.tat.After(now) {
			interval := b.reset.Sub(now).Seconds() / avail
			quota := b.limit
			if quota < 0 {
				quota = avail
			}
			tau := interval * math.Floor(quota*burstFrac)
			if at := b.tat.Add(-secs(tau)); at.After(now) {
				return at
			}
		}
		return now
	}
	deficit := need - avail
	switch {
	case b.rate > 0:
		return now.Add(secs(deficit / b.paceRate()))
	case b.reset.After(now):
		if w := b.settleWait(deficit, now); w > 0 && now.Add(w).Before(b.reset) {
			return now.Add(w)
		}
		return b.reset
	}
	if paced {
		return now
	}
	last := b.obsAt
	if b.lastGrant.After(last) {
		last = b.lastGrant
	}
	return last.Add(b.probeWait())
}

// take records a grant of units at now. Requires Tracker.mu held.
func (b *bucket) take(now time.Time, units float64) draw {
	if b.spreads(now) {
		if avail := b.available(now) - b.keep(max(units, 1)); avail > 0 {
			interval := b.reset.Sub(now).Seconds() / avail
			if b.tat.Before(now) {
				b.tat = now
			}
			b.tat = b.tat.Add(secs(interval * max(units, 1)))
		}
	}
	b.noteProbe(now, max(units, 1))
	b.spent += units
	b.noteGrant(units)
	if units > 0 && len(b.pending) < maxPending {
		b.pending = append(b.pending, pendingGrant{mark: b.spent, units: units})
	}
	if b.unit == ConcurrentRequests {
		b.inflight += units
	}
	b.lastGrant, b.lastUsed = now, now
	return draw{b: b, units: units, mark: b.spent}
}

// pace returns the rate b currently enforces, in units/s (0: none).
func (b *bucket) pace(now time.Time) float64 {
	if b.rate > 0 {
		return b.paceRate()
	}
	if b.spreads(now) {
		if avail := b.available(now) - b.keep(1); avail > 0 {
			return avail / b.reset.Sub(now).Seconds()
		}
	}
	return 0
}

// apply takes in an observation from the response to the request whose
// grant, at grantedAt, left b.spent at mark. Requires Tracker.mu held.
func (b *bucket) apply(o Observation, mark float64, grantedAt, now time.Time, route string) {
	b.lastUsed = now
	b.learnRoute(route)
	if o.Unit != UnitUnknown {
		b.unit = o.Unit
	}
	if o.Limit >= 0 {
		b.limit = o.Limit
	}
	if o.Window > 0 {
		b.window = o.Window
	}
	b.continuous = o.Continuous
	if !o.Continuous && !o.Reset.IsZero() && b.impliedRate(o, mark, now) == 0 {
		b.applyWindow(o, mark, grantedAt, now)
		return
	}
	b.windowed, b.unseen, b.unseenLost = false, b.unseen[:0], 0
	if mark < b.applied {
		b.applyStale(o, now)
		return
	}
	rate := b.impliedRate(o, mark, now)
	rem := b.concurrentRemaining(o, mark, now)
	b.rate = rate
	b.remaining, b.obsAt, b.obsSpent, b.reset, b.applied = rem, now, b.spent, o.Reset, mark
	b.probed()
	if b.remaining >= 0 && (b.prevAt.IsZero() || now.Sub(b.prevAt) >= minMeasure) {
		b.prevRem, b.prevAt, b.prevMark = b.remaining, now, mark
	}
}

// impliedRate returns b's refill rate after observation o.
func (b *bucket) impliedRate(o Observation, mark float64, now time.Time) float64 {
	toReset := o.Reset.Sub(now)
	switch {
	case o.Remaining < 0:
		return b.rate
	case o.Continuous && !o.Reset.IsZero():
		// OpenAI, Anthropic: reset is when the bucket is full again.
		if o.Limit > 0 && o.Remaining < o.Limit && toReset > 0 {
			return (o.Limit - o.Remaining) / toReset.Seconds()
		}
		return b.rate
	case !o.Reset.IsZero() && toReset <= roundingSlack && o.Window > 0 && o.Limit > 0:
		// A reset of at most a second is whole-second rounding of a wait
		// that may be much shorter (IETF t=1 for a token bucket): refill at
		// the policy's average rate rather than pause the whole second.
		// At full quota too: taken for a fixed window, it was sent all at
		// once (burst_fraction 1) into a token bucket's smaller burst.
		return o.Limit / o.Window.Seconds()
	case !o.Reset.IsZero():
		return 0 // a fixed window: it refills at the reset
	}
	// No reset stated (Shopify, Azure, IETF at full quota): measure the
	// refill between two responses, net of what was granted between them.
	if b.prevAt.IsZero() || b.prevRem < 0 || now.Sub(b.prevAt) < minMeasure {
		return b.rate
	}
	refill := (o.Remaining - b.prevRem + (mark - b.prevMark)) / now.Sub(b.prevAt).Seconds()
	switch {
	case refill <= 0:
		return b.rate
	case o.Limit >= 0 && o.Remaining >= o.Limit:
		return max(b.rate, refill) // capped at the limit: a lower bound
	case b.rate > 0:
		return (b.rate + refill) / 2
	}
	return refill
}

// learnRoute records that b was reported for a request on route.
func (b *bucket) learnRoute(route string) {
	if route == "" || b.allRoutes {
		return
	}
	if b.routes == nil {
		b.routes = make(map[string]bool)
	}
	b.routes[route] = true
	if len(b.routes) > maxRoutes {
		b.routes, b.allRoutes = nil, true
	}
}

// pauseFor pauses b after a throttle that found it exhausted (o is the
// throttle's observation of b). Retry-After takes precedence over the
// reset; a short Retry-After does not pause a bucket whose refill rate is
// known (the rate paces it), and gives one that refills steadily without a
// known rate its first estimate (Shopify: the wait for one unit). Without
// Retry-After the pause runs to the throttle's own reset, not to a later
// one stored from another response (a 2-second secondary limit must not
// pause until the hourly reset). A positive ceiling caps the pause.
func (b *bucket) pauseFor(sig Signal, o Observation, now time.Time, ceiling time.Duration) {
	var until time.Time
	switch {
	case sig.HasRetryAfter && sig.RetryAfter > 0:
		if b.rate == 0 && (b.continuous || b.reset.IsZero()) {
			b.rate = 1 / sig.RetryAfter.Seconds()
		}
		if sig.RetryAfter > roundingSlack || b.rate == 0 {
			until = now.Add(sig.RetryAfter)
		}
		if !b.refills() {
			// The server says to try again then, before the reset: let
			// one request probe (beyond the headroom).
			b.remaining, b.applied = 1+b.keep(1), b.spent
			b.forgetAnswered()
		}
	case b.rate == 0 && o.Reset.After(now):
		until = o.Reset
	case b.rate == 0 && b.reset.After(now):
		until = b.reset
	}
	if ceiling > 0 && until.Sub(now) > ceiling {
		until = now.Add(ceiling)
		if !b.refills() {
			// Probe once the capped pause is over rather than wait for
			// a reset the route does not trust.
			b.remaining, b.applied = 1+b.keep(1), b.spent
			b.forgetAnswered()
		}
	}
	if until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
}

// grant draws cost from every bucket that applies. Requires Tracker.mu
// held; earliest(now, cost) must have been now.
func (h *hostState) grant(now time.Time, cost Cost) *ticket {
	tk := &ticket{host: h.name, route: cost.Route, dialect: cost.Dialect, paced: cost.Paced, pause: cost.MaxPause, at: now}
	tk.draws = tk.buf[:0]
	if h.firstGrant.IsZero() {
		h.firstGrant = now
	}
	if h.pauseLogged && !h.paused.After(now) {
		h.pauseLogged = false
		h.events = append(h.events, event{msg: "bucket_resumed", level: slog.LevelInfo, host: h.name, bucket: "host"})
	}
	if a := h.adaptive; a != nil && a.enabled && !cost.Paced {
		a.take(now, 1)
	}
	for _, b := range h.buckets {
		if !b.applies(cost.Route) {
			continue
		}
		if b.pauseLogged && !b.pausedUntil.After(now) && b.available(now) > 0 {
			b.pauseLogged = false
			h.events = append(h.events, event{msg: "bucket_resumed", level: slog.LevelInfo, host: h.name, bucket: b.name})
		}
		if cost.free && b.unit == Requests {
			continue // a 304 is not charged; a 200's headers will say
		}
		tk.draws = append(tk.draws, b.take(now, b.units(cost)))
		if p := b.pace(now); math.Abs(p-b.loggedPace) > 0.25*max(p, b.loggedPace) {
			b.loggedPace = p
			h.events = append(h.events, event{msg: "bucket_paced", level: slog.LevelDebug, host: h.name, bucket: b.name,
				attrs: []any{"pace", round3(p), "remaining", round3(max(b.available(now), 0)), "reset", b.reset}})
		}
	}
	return tk
}

// earliest returns when a request of the given cost may go, and what holds
// it (the bucket's name, "host", "adaptive" or "first-contact"; hold
// false skips the first-contact hold). It logs a pause the first time one
// holds the request. Requires Tracker.mu held.
func (h *hostState) earliest(now time.Time, cost Cost, burstFrac float64, hold bool) (time.Time, string) {
	at, who := now, ""
	if hold && !h.answered && !h.firstGrant.IsZero() {
		// One request goes first; the rest wait (briefly) for what its
		// response says about the quota.
		if w := h.firstGrant.Add(firstContact); w.After(now) {
			at, who = w, whoFirst
		}
	}
	if h.paused.After(at) {
		at, who = h.paused, "host"
		h.pauseLogged = true
	}
	if a := h.adaptive; a != nil && a.enabled && !cost.Paced {
		if w := a.earliest(now, 1); w.After(at) {
			at, who = w, "adaptive"
		}
	}
	for _, b := range h.buckets {
		if !b.applies(cost.Route) {
			continue
		}
		if cost.free && b.unit == Requests && !b.pausedUntil.After(now) && b.available(now) >= 1 {
			continue // not paced: it waits only for a pause or an empty bucket
		}
		w := b.earliest(now, b.units(cost), burstFrac, cost.Paced)
		if w.Sub(now) > roundingSlack/10 && !b.pauseLogged && (b.pausedUntil.After(now) || b.available(now) < 1) {
			b.pauseLogged = true
			h.events = append(h.events, event{msg: "bucket_paused", level: slog.LevelInfo, host: h.name, bucket: b.name,
				attrs: []any{"until", w, "wait", w.Sub(now), "limit", b.limit, "reset", b.reset}})
		}
		if w.After(at) {
			at, who = w, b.name
		}
	}
	return at, who
}

// drainEvents returns and clears the pending events. Requires Tracker.mu
// held.
func (h *hostState) drainEvents() []event {
	ev := h.events
	h.events = nil
	return ev
}
