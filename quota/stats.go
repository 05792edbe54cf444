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
	// Remaining is what the Tracker estimates is left now: the last
	// reported count, plus the refill since, minus what was sent since.
	// Unknown when never reported.
	Remaining float64
	// Reset is when the bucket is next full or its window restarts; zero
	// when unknown.
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
			rem := b.available(now)
			switch {
			case math.IsInf(rem, 1):
				rem = Unknown
			case rem < 0:
				rem = 0
			}
			out = append(out, BucketStats{Host: h.name, Bucket: b.name, Unit: b.unit, Limit: b.limit,
				Remaining: rem, Reset: b.reset, Pace: b.pace(now), PausedUntil: b.pausedUntil, Throttles: b.throttles})
		}
		if a := h.adaptive; a != nil && (a.enabled || a.throttles > 0) {
			out = append(out, BucketStats{Host: h.name, Bucket: "adaptive", Unit: Requests, Limit: Unknown,
				Remaining: Unknown, Pace: a.fillRate, PausedUntil: h.paused, Throttles: a.throttles})
		}
	}
	slices.SortFunc(out, func(a, b BucketStats) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Bucket, b.Bucket))
	})
	return out
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
