// Package limit holds sluice's rate-limit core: a lock-free GCRA token
// bucket, an exact sliding window, several limits taken all-or-nothing,
// weighted cost, FIFO waiting with priorities, weighted fair queueing by
// consumer with per-consumer caps, and keyed sets of limiters with bounded
// memory.
//
// Every limiter implements [Limiter], the one interface the rest of sluice
// (and the Redis-backed limiters in limit/redislimit) is written against.
// Rates are written as in configuration files and parsed by [ParseRate]:
// "100/min", "10/2s", "5000/h", "1000/day", "inf".
//
// # Bucket: GCRA
//
// [Bucket] is a token bucket computed as GCRA. Its state is one number,
// the theoretical arrival time (TAT), in an atomic int64. With T =
// Period/Count (rounded up to a whole nanosecond, so the bucket never runs
// faster than the rate) and tau = T*burst, a cost n at time now is granted
// iff max(TAT, now) + n*T - tau <= now, and then TAT becomes max(TAT, now) +
// n*T, stored with one compare-and-swap. Allow takes no lock, allocates
// nothing and reads the clock once. Over any interval of length t a Bucket
// grants at most burst + t/T units, and exactly that many to a caller that
// keeps asking.
//
// # Window: strict sliding window
//
// [Window] keeps a log of its grants (time and units, one 16-byte entry per
// grant) and grants n at now only if the units granted in (now-Period, now]
// plus n are at most Count. So no interval of length Period ever holds more
// than Count units: exact, never Count+1. Memory is bounded by Count entries
// (plus outstanding reservations). Choose a Window for quotas a provider
// enforces strictly over a long period ("100/hour", "10,000/day"): a Bucket
// of the same Count and Period refills continuously, so a full burst at the
// start of an hour plus the units earned during it can put up to nearly
// 2*Count into one clock hour. Choose a Bucket for smooth per-second limits
// and for the lowest cost.
//
// # Multi: several limits at once
//
// [Multi] takes from all its members or from none. Members of this package
// are taken from in turn and, if a later one refuses, the earlier grants are
// undone exactly (a Bucket's TAT moves back by n*T; a Window's log entry is
// removed), so a request refused by the daily window uses nothing of the
// per-second bucket. Foreign members (limit/redislimit) are asked last,
// through Reserve, and cancelled on refusal; see Multi.
//
// # Waiting, fairness, priority
//
// Wait first tries the lock-free path when nobody is queued. Otherwise the
// caller joins the limiter's queue, ordered by key = arrival time -
// priority*aging (aging defaults to one second per priority level, see
// [WithAging]); equal priorities are therefore served first come, first
// served, and a higher priority ([WithPriority]) goes before queued lower
// ones. Only the head of the queue tries to take units; it sleeps on a timer
// until they are due, and the others sleep until they become the head. Allow
// refuses while anyone is queued, so callers that do not wait cannot starve
// those that do.
//
// Starvation bound: a waiter of priority p is overtaken only by waiters of
// priority q > p that arrive less than (q-p)*aging after it. With the
// default aging and the predefined priorities (Low -10, Normal 0, High 10),
// a Low waiter is served before any High waiter arriving more than 20 s
// after it; after that it waits only for those already ahead of it.
//
// A waiter whose context ends leaves the queue and returns ctx.Err(); it
// had claimed nothing, so the next waiter is served in its place. When the
// grant would come after the context's deadline, Wait and Reserve return a
// *[WaitError] at once, without sleeping and without claiming anything.
// Reserve claims units in call order (it does not queue behind Wait
// callers); Reservation.Cancel returns them while the reservation is not yet
// due. No goroutine is started: a waiter's timer belongs to its Wait call.
//
// [Limiter.PauseUntil] (used when a provider answers 429 with Retry-After)
// grants nothing before the given time; a Bucket then restarts nearly
// empty (one unit at that time, then the rate) so that held-back callers do
// not rush in together. [Limiter.SetRate] keeps what was spent: a Bucket's
// debt is rescaled to the new interval (capped at the new burst), a Window
// keeps its log.
//
// # Fair: weighted fair queueing by consumer
//
// [Fair] wraps a limiter for several consumers (named on the context with
// [WithConsumer]): each has its own queue, and the next request to wait on
// the inner limiter is the head of the consumer with the smallest virtual
// tag (start-time fair queuing: a grant of n advances the consumer's tag by
// n/weight; a consumer that was idle starts at the current tag). So a
// consumer with 1000 requests queued holds a newcomer back by the request
// being granted and at most one of its own, not by its queue: on 50/s, 30 ms
// against 20 s in one FIFO queue (TestFairInteractiveNotStarved). Weights
// ([Share].Weight) split the rate among consumers that wait at the same time
// and are work-conserving; a cap ([Share].Cap) is hard: a consumer capped at
// 0.3 gets at most 30% of each rate even alone, through a token bucket at
// [ScaleRate] of the rate (FairOptions.NewCap can keep it in Redis, making it
// global). A request that its consumer's cap cannot serve by its deadline
// gets a *[CapError] at once, which unwraps to a *[WaitError]. Over a limiter
// shared between processes, fair order holds among one Fair's waiters.
//
// # Keyed limiters
//
// [Keyed] holds one limiter per key, creates it on first use, and drops
// limiters idle for IdleTTL and, past MaxKeys, the least recently used.
// One key costs about 360 bytes with a Bucket per key and short string keys
// (measured by TestKeyedMemoryBound, go1.26 amd64: the Bucket 192 B, of
// which 56 are padding that keeps its hot word on its own cache line, its
// config 48 B, the LRU entry 64 B, the map slot and the key the rest);
// 1,000,000 distinct keys through a Keyed of MaxKeys 10,000 keep its heap
// at about 3.6 MB. Memory is bounded by MaxKeys times that.
//
// # Clock
//
// Limiters read time through [WithClock]'s Clock, or by default the real
// monotonic clock: the time of construction is kept as a base and each
// decision reads time.Since(base) once (about half the cost of time.Now
// here, see docs/benchmarks.md). Inside a testing/synctest bubble the real
// clock is the bubble's fake one, so tests need no injected clock at all.
package limit
