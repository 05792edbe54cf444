package quota

import "time"

// A fixed window's reset is stated in whole seconds (GitHub, GitLab, X:
// epoch seconds), and a provider rounding the same boundary from a
// slightly different instant (another server, or the wall and monotonic
// clocks read a few nanoseconds apart) may state it one second late. On
// loopback, sluicetest's FixedWindow(50, 1s) reported the next second for
// about half of its responses; taking the last response's reset as it was
// spread each window's quota over up to two seconds (56% of the allowed
// rate in the cmd/sluice demo). A window's reset does not move while the
// window lasts, so the Tracker keeps the earliest reset stated for it.

// windowEnded reports whether fixed-window observation o describes a window
// that has already ended (its reset, clamped by Parse to no earlier than
// the response, is not after now): the response to a request sent just
// before the reset, arriving after it. Applying it would make the next
// rollover forget the requests already granted in the new window.
// Requires Tracker.mu held.
func (b *bucket) windowEnded(o Observation, now time.Time) bool {
	return b.remaining >= 0 && !o.Reset.After(now)
}

// windowReset returns the reset to keep for b after fixed-window
// observation o: the earlier of o's and the known one when o is about the
// same window (the known reset is still ahead, so no new window has begun,
// and within a second of o's), o's otherwise. The remaining count does not
// tell windows apart: a provider may count a window afresh early (one did,
// on loopback), and the Tracker follows the count it reports. Requires
// Tracker.mu held.
func (b *bucket) windowReset(o Observation, now time.Time) time.Time {
	if b.refills() || b.remaining < 0 || !b.reset.After(now) || absDur(o.Reset.Sub(b.reset)) > sameWindowSlack {
		return o.Reset
	}
	if b.reset.Before(o.Reset) {
		return b.reset
	}
	return o.Reset
}

// sameWindowSlack is how far apart two resets stated for one window may be:
// a second of rounding, and room for the local instants they were converted
// through (a time's wall and monotonic readings are taken apart, so two
// conversions of the same whole second may differ by a few nanoseconds).
const sameWindowSlack = roundingSlack + roundingSlack/2

// absDur returns |d|.
func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// A fixed window's count only goes down while the window lasts, so every
// response in it tells which requests the server had counted when it
// answered: its own, and every request whose response reported more
// remaining. Counting by grant order instead (the remaining count minus
// the units granted after the request whose response reported it) counts
// twice a request the server counted before an earlier grant: with 16
// requests in flight on loopback, a response reporting 6 left after one
// reporting 5 (the server had counted them the other way round) lowered the
// Tracker's count to 4, and the error built up over a window, leaving 2 of
// GitHub's 50 unused in every window of sluicetest's FixedWindow(50, 1s)
// (a fifth window for 200 requests: goodput 0.79 where 0.98 was possible).
// So within a window the Tracker keeps the least remaining count reported
// and subtracts the grants whose responses it has not seen (in flight, or
// answered without a count: a transport error, a response without quota
// headers); once seen, a grant is in the count.

// windowSame reports whether fixed-window observation o is about the
// window b already counts: b's count is known, its reset is still ahead
// and within sameWindowSlack of o's. Requires Tracker.mu held.
func (b *bucket) windowSame(o Observation, now time.Time) bool {
	return b.windowed && !b.refills() && b.remaining >= 0 && b.reset.After(now) &&
		absDur(o.Reset.Sub(b.reset)) <= sameWindowSlack
}

// applyWindow takes in fixed-window observation o from the response to
// the grant of the given mark. Requires Tracker.mu held.
func (b *bucket) applyWindow(o Observation, mark float64, grantedAt, now time.Time) {
	if d := now.Sub(grantedAt); d >= 0 && !grantedAt.IsZero() {
		b.answerTime = (3*b.answerTime + d) / 4
	}
	if !b.windowed {
		// Start counting by response: the grants still unanswered
		// may not be counted yet.
		b.unseen = append(b.unseen[:0], b.pending...)
		b.windowed = true
	}
	b.seen(mark)
	if b.windowEnded(o, now) {
		return // it describes a window that is over: rollover starts the next
	}
	rem := o.Remaining
	if rem >= 0 && b.windowSame(o, now) {
		rem = min(rem, b.remaining)
	}
	b.rate = 0
	b.reset = b.windowReset(o, now)
	b.remaining, b.obsAt, b.obsSpent, b.applied = rem, now, b.spent, max(b.applied, mark)
	if rem >= 0 && (b.prevAt.IsZero() || now.Sub(b.prevAt) >= minMeasure) {
		b.prevRem, b.prevAt, b.prevMark = rem, now, mark
	}
}

// seen forgets the unseen grant of the given mark, once answered. A
// response to a request that drew nothing from b (a 304 GitHub does not
// charge, one granted before b was known) comes with b.spent as its mark,
// the mark of the latest grant, which is still unanswered: that grant's
// response is not seen yet. Requires Tracker.mu held.
func (b *bucket) seen(mark float64) {
	for _, p := range b.pending {
		if p.mark == mark {
			return
		}
	}
	for i, p := range b.unseen {
		if p.mark == mark {
			b.unseen = append(b.unseen[:i], b.unseen[i+1:]...)
			return
		}
	}
}

// unseenUnits returns the units of the grants in b's window whose
// responses have not been seen. Requires Tracker.mu held.
func (b *bucket) unseenUnits() float64 {
	n := b.unseenLost
	for _, p := range b.unseen {
		n += p.units
	}
	return n
}

// forgetAnswered keeps, of the unseen grants, those still unanswered,
// when a new window starts (rollover, or a throttle's probe): a request
// answered without a count was counted, if at all, in the window that
// ended. Requires Tracker.mu held.
func (b *bucket) forgetAnswered() {
	kept, j := b.unseen[:0], 0
	for _, u := range b.unseen {
		for j < len(b.pending) && b.pending[j].mark < u.mark {
			j++
		}
		if j < len(b.pending) && b.pending[j].mark == u.mark {
			kept = append(kept, u)
		}
	}
	b.unseen, b.unseenLost = kept, 0
}

// noteGrant records a grant of units (b.spent is its mark) as unseen when
// b counts a fixed window by response. Requires Tracker.mu held.
func (b *bucket) noteGrant(units float64) {
	switch {
	case !b.windowed || units <= 0:
	case len(b.unseen) < maxPending:
		b.unseen = append(b.unseen, pendingGrant{mark: b.spent, units: units})
	default:
		b.unseenLost += units
	}
}

// A request held because the window's last units are drawn by grants still
// in flight is not held until the reset: their responses may show that the
// server counted fewer (each seen grant joins the count), and a unit freed
// so is usable at once. The Tracker wakes waiters by timer, so the request
// checks again after about a quarter of the time a response takes, or of
// the time since the last grant when that is longer (a slow or hung
// response), within [settleMin, settleMax], while unanswered grants could
// cover what it needs. On loopback, holding to the reset left 2 to 6 of a
// 50-request window unused in most windows. A request whose deadline comes
// before the reset therefore waits for those answers (until its deadline)
// instead of failing at once.
const (
	settleMin = time.Millisecond
	settleMax = 50 * time.Millisecond
)

// settleWait returns how long a request short of deficit units waits
// before checking b again at now, when b counts a fixed window by response
// and unanswered grants could cover the deficit; zero otherwise. Requires
// Tracker.mu held.
func (b *bucket) settleWait(deficit float64, now time.Time) time.Duration {
	if !b.windowed || b.refills() {
		return 0
	}
	var inFlight float64
	for _, p := range b.pending {
		inFlight += p.units
	}
	if min(inFlight, b.unseenUnits()) < deficit {
		return 0
	}
	return min(max(b.answerTime, now.Sub(b.lastGrant))/4, settleMax) + settleMin
}
