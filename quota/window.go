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
