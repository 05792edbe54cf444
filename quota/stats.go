package quota

import (
	"cmp"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// BucketStats is a snapshot of one bucket as the Tracker sees it.
type BucketStats struct {
	// Host and Bucket identify the bucket. Bucket is "adaptive" for the
	// rate discovered on a host that throttles without quota headers.
	Host, Bucket string
	// Unit is what the bucket counts.
	Unit Unit
	// Limit is the bucket's capacity, or Unknown.
	Limit float64
	// Remaining is what the Tracker estimates is left now, in whole units:
	// the last reported count, plus the refill since, minus what was sent
	// since, rounded down. -1 (Unknown) when never reported.
	Remaining int64
	// Reset is when the bucket is next full or its window restarts. Once
	// a window has restarted and no response has yet stated the next
	// reset, it is the next restart when the window's length is known, and
	// else the restart that passed (a time before now: the bucket is full
	// since then). Zero when never reported.
	Reset time.Time
	// Pace is the rate the Tracker currently holds requests to, in units
	// per second; zero when it does not pace this bucket.
	Pace float64
	// PausedUntil is the end of a pause ordered by a throttle; zero or past
	// when not paused.
	PausedUntil time.Time
	// Throttles counts the throttles attributed to this bucket.
	Throttles int64
}

// Stats returns a snapshot of every bucket, sorted by host and bucket.
func (t *Tracker) Stats() []BucketStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var out []BucketStats
	for _, h := range t.hosts {
		for _, b := range h.buckets {
			b.rollover(now)
			var rem int64
			switch avail := b.available(now); {
			case math.IsInf(avail, 1):
				rem = -1
			case avail > 0:
				rem = int64(math.Floor(avail))
			}
			out = append(out, BucketStats{Host: h.name, Bucket: b.name, Unit: b.unit, Limit: b.limit,
				Remaining: rem, Reset: b.statsReset(now), Pace: b.pace(now), PausedUntil: b.pausedUntil, Throttles: b.throttles})
		}
		if a := h.adaptive; a != nil && (a.enabled || a.throttles > 0) {
			out = append(out, BucketStats{Host: h.name, Bucket: "adaptive", Unit: Requests, Limit: Unknown,
				Remaining: -1, Pace: a.fillRate, PausedUntil: h.paused, Throttles: a.throttles})
		}
	}
	slices.SortFunc(out, func(a, b BucketStats) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Bucket, b.Bucket))
	})
	return out
}

// statsReset is the Reset that Stats reports for b (see BucketStats).
// Requires Tracker.mu held.
func (b *bucket) statsReset(now time.Time) time.Time {
	if !b.reset.IsZero() || b.lastReset.IsZero() {
		return b.reset
	}
	r := b.lastReset
	if b.window > 0 && !r.After(now) {
		r = r.Add((now.Sub(r)/b.window + 1) * b.window)
	}
	return r
}

// RouteOf returns a route name for req to use as Cost.Route: the method
// and the first three path segments, with segments that hold a digit
// replaced by "*" ("GET /repos/*/issues" for /repos/42/issues/7).
func RouteOf(req *http.Request) string {
	if req == nil || req.URL == nil {
		return ""
	}
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	if len(parts) > 3 {
		parts = parts[:3]
	}
	for i, p := range parts {
		if strings.ContainsAny(p, "0123456789") {
			parts[i] = "*"
		}
	}
	return req.Method + " /" + strings.Join(parts, "/")
}
