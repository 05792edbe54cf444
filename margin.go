package sluice

import (
	"time"

	"github.com/sluicehq/sluice/limit"
)

// Margins for grant-to-arrival skew on a configured token bucket: a
// request granted exactly on time may reach the provider a little early
// relative to a delayed predecessor (a faster connection, a late timer) and
// find its bucket empty. At exactly the provider's rate x/time/rate drew
// one 429 per 200-request job on loopback. The unit under the burst is what
// absorbs that skew (one emission interval of lateness: 20 ms at 50/s); the
// rate margin only has to outrun clock-rate differences and lets the
// provider's bucket gain half a unit every 2 s at 50/s. 1% under the rate
// drew no 429 either, but cost 38 ms of a 3.8 s job, more than the oracle's
// one lost request (sluice 0.984 of the least time, x/time/rate 0.995);
// 0.5% drew none in 20 jobs on a loaded machine (load 6-7 on 2 cores):
// 0.990 (see docs/benchmarks.md, issue 10).
const (
	burstHeadroom = 1
	minHeadroom   = 10
	// The share of a configured rate sluice paces to: 199/200, 99.5%.
	marginNum, marginDen = 199, 200
)

// withMargin returns r paced at 99.5% of its rate, with burstHeadroom unit
// less burst when the burst is at least minHeadroom.
func withMargin(r limit.Rate) limit.Rate {
	if r.Count <= 0 || r.Period <= 0 {
		return r // Inf and the like
	}
	if r.Burst == 0 {
		r.Burst = r.Count
	}
	if r.Burst >= minHeadroom {
		r.Burst -= burstHeadroom
	}
	if r.Count < 1<<40 && r.Period < time.Duration(1<<62)/marginDen {
		r.Count, r.Period = r.Count*marginNum, r.Period*marginDen
	}
	return r
}
