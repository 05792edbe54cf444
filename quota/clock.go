package quota

import (
	"math"
	"net/http"
	"time"
)

// Bounds of the local-minus-Date offset that are consistent with clocks that
// agree: Date is truncated to the second and the response took some time to
// arrive, so an offset in [0, 1 s + latency) is what agreeing clocks produce.
const (
	skewTrustLow  = -500 * time.Millisecond
	skewTrustHigh = 1500 * time.Millisecond
)

// clock converts the times a response states into local times.
type clock struct {
	now  time.Time
	skew time.Duration // local clock minus server clock; added to server instants
}

// newClock measures the offset between the local clock and the response's
// Date header. An offset that agreeing clocks could produce is taken as zero,
// because Date's one-second resolution cannot measure a smaller skew and the
// local clock is more precise. A larger offset is applied whole, which errs
// on the late side (the true skew is at most the measured offset).
func newClock(h http.Header, now time.Time) clock {
	c := clock{now: now}
	date, err := http.ParseTime(h.Get("Date"))
	if err != nil || date.IsZero() {
		return c
	}
	if d := now.Sub(date); d < skewTrustLow || d > skewTrustHigh {
		c.skew = d
	}
	return c
}

// at returns the local instant of a server instant, clamped to
// [now, now+MaxWait].
func (c clock) at(server time.Time) time.Time {
	if server.IsZero() {
		return time.Time{}
	}
	return c.after(server.Add(c.skew).Sub(c.now))
}

// after returns now+d with d clamped to [0, MaxWait].
func (c clock) after(d time.Duration) time.Time {
	return c.now.Add(clampWait(d))
}

// reset turns a numeric "reset" value into a local instant. epoch says how
// the dialect defines it (epoch seconds or delta seconds). Values that are
// clearly the other kind are read as such (pitfall 1's last resort), judged
// against the server's current time (the Date header, else the local
// clock): within epochSpan of it in epoch seconds or milliseconds they are
// an instant, far below it a delta. Negative values, a zero epoch, and
// instants far from now give the zero time.
func (c clock) reset(v float64, epoch bool) time.Time {
	ref := float64(c.now.Add(-c.skew).Unix())
	switch {
	case v < 0 || v != v:
		return time.Time{}
	case math.Abs(v-ref*msPerSec) <= epochSpan*msPerSec:
		return c.at(epochTime(v / msPerSec))
	case math.Abs(v-ref) <= epochSpan:
		return c.at(epochTime(v))
	case v >= ref-epochSpan:
		return time.Time{} // an instant years away: garbage
	case epoch && v == 0:
		return time.Time{} // a zero epoch is a placeholder, not 1970
	}
	return c.after(secs(v))
}
