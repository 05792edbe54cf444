package quota

import "time"

// A bucket reported empty with neither a reset nor a known refill rate
// (Shopify's used/capacity, Azure's remaining count: no reset is stated,
// and the rate is measured between responses at least minMeasure apart)
// holds requests until a probe may learn more. Holding a whole second
// (unknownProbe) for the first probe cost 1 s of a 3.8 s job against
// sluicetest's LeakyBucket(10, 50): the burst of 10 went out within a
// millisecond, too soon for any measurement, and the bucket then stood
// idle while it drained 50 units. So the first probe goes minMeasure after
// the last grant or response, the time a measurement needs, and each probe
// that finds the bucket still empty (no rate learned from its response or
// from a throttle's Retry-After) doubles the wait, up to unknownProbe: a
// provider that refills slowly, or stays empty, draws no more probes than
// before.

// firstProbe is the wait before the first probe of an empty bucket whose
// refill is unknown.
const firstProbe = minMeasure

// maxProbeDoublings bounds the doublings of firstProbe (unknownProbe is
// reached well before).
const maxProbeDoublings = 8

// probeWait returns how long after its last grant or response b, empty
// with an unknown refill, holds requests. Requires Tracker.mu held.
func (b *bucket) probeWait() time.Duration {
	return min(firstProbe<<b.probes, unknownProbe)
}

// noteProbe counts a grant of need units made at now as a probe when b
// could not cover it and has neither a refill rate nor a reset to wait
// for. Requires Tracker.mu held.
func (b *bucket) noteProbe(now time.Time, need float64) {
	if b.rate == 0 && !b.reset.After(now) && b.remaining >= 0 && b.available(now)-b.keep(need) < need {
		b.probes = min(b.probes+1, maxProbeDoublings)
	}
}

// probed forgets the probes once b has a refill rate or units to grant.
// Requires Tracker.mu held.
func (b *bucket) probed() {
	if b.rate > 0 || b.remaining >= 1 {
		b.probes = 0
	}
}
