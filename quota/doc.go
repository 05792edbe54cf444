// Package quota learns a provider's real rate limit from its responses and
// paces requests to stay within it.
//
// # Parsing
//
// Parse turns an *http.Response into a Signal: one Observation per bucket
// the response reports (limit, remaining, the local time of the reset, the
// window and the unit counted), the wait the server asked for (Retry-After
// and its millisecond variants, or a throttle body's retry_after / "try
// again in 1.2s" / RetryInfo), whether the response is a throttle, and
// whether retrying soon is pointless (OpenAI insufficient_quota, per-day
// quotas, spend limits).
//
// Each provider states its quota in its own Dialect; DialectAuto (the zero
// value) recognises them by their headers. The dialects differ above all in
// what "reset" means (epoch seconds, fractional epoch, delta seconds, Go
// durations, RFC 3339, ISO 8601 to the minute, epoch milliseconds) and Parse
// reads each one as its provider defines it. Absolute times are converted to
// local time through the response's Date header, so a local clock that is
// off by minutes does no harm; Date's one-second resolution is respected (an
// offset of under a second is not corrected). Values are never trusted as
// they are: negatives and sentinels (-1, a limit of 0) are Unknown, waits
// are clamped to MaxWait, counts to MaxQuota, a malformed structured field
// is ignored whole, and a response from a cache (Age > 0) reports nothing.
//
// To see what only the body says (GitHub's secondary limit, OpenAI's
// insufficient_quota), Parse reads at most MaxPeek bytes of the body of a
// 400, 403, 409, 429, 503 or 529 and puts them back, so the caller reads the
// body unchanged. It never reads a 2xx body (except for DialectShopify
// chosen explicitly, whose GraphQL throttles arrive as 200s).
//
// Precedence, as the providers document it: Retry-After beats every vendor
// reset; without it, the wait is the latest reset among exhausted buckets;
// without that, a dialect's documented minimum (GitHub's secondary limit:
// 60 s). See Signal.Wait.
//
// # Pacing: the Tracker
//
// A Tracker keeps, per host and bucket, what the last applicable response
// said, and paces requests so that they stay within it. The Transport calls
// Acquire before each send and the done it returns after the response:
//
//	done, err := tr.Acquire(req.Context(), req.URL.Host, quota.Cost{Requests: 1})
//	if err != nil {
//		return nil, err // ctx ended, or a *WaitError: the wait passes the deadline
//	}
//	resp, err := inner.RoundTrip(req)
//	done(resp, err) // before anyone reads or closes resp.Body
//
// Acquire waits for every bucket of the host (and every bucket seen on
// Cost.Route, see RouteOf) and for the host's own pause:
//
//   - A fixed window (GitHub, X, GitLab, IETF with a reset over a second
//     away) spreads what remains over the time to its reset: the k-th of
//     10 remaining requests with the reset 1 s away goes at k*100 ms (a GCRA
//     schedule; TrackerOptions.BurstFraction allows a burst first). When it
//     is empty it pauses until the reset, then starts afresh at the limit.
//     A window's reset does not move while it lasts: of the resets stated
//     for it up to a second apart (whole-second rounding from different
//     instants), the earliest is kept; a response describing a window that
//     is already over (sent just before its reset) is ignored.
//   - A bucket that refills steadily waits for the refill its request needs.
//     The rate comes from the response: OpenAI's and Anthropic's reset is
//     the time to a full bucket, so rate = (limit - remaining) / reset; an
//     IETF reset of at most a second with a known policy is whole-second
//     rounding of a shorter wait, so rate = q / w; without any reset
//     (Shopify, Azure) it is measured between two responses, net of what
//     was sent between them, and first estimated from a throttle's
//     fractional Retry-After (one unit per Retry-After). Such a bucket
//     found empty before its rate is known lets a probe go 100 ms after
//     its last grant or response, doubling the wait (up to a second) for
//     each probe that teaches nothing; a request the caller paces to a
//     configured rate (Cost.Paced) is not held for the probe.
//   - Requests in flight count: a bucket's available quota is its last
//     reported remaining count minus the units granted after the request
//     whose response reported it, and minus those granted before it that
//     are still unanswered (responses arrive out of order: the server may
//     have counted a later request first). A response to an older request
//     than the last applied one only lowers the count, when it reports less
//     remaining (the server counted that request later), and so does one to
//     a request granted before the last applied response arrived (a slow
//     response may carry a count older than the one applied); "before" is
//     the grant order, not the clock, which cannot tell apart a window's
//     grants and answers at one instant. A fixed window is counted by
//     response instead, as its count only goes down while the window lasts:
//     the least remaining count reported in the window, minus the grants
//     whose responses have not been seen. A request short of units that
//     grants in flight may free checks again as their answers come (a
//     fraction of the response time), not at the reset.
//   - Token cost (Cost.Tokens) is drawn from token buckets (OpenAI tokens,
//     Anthropic tokens and input-tokens) as well as requests from request
//     buckets; a bucket counting what a request cannot state (output
//     tokens, bytes) holds it only while it is empty.
//   - A throttle that finds a bucket exhausted pauses that bucket until the
//     Retry-After (which beats the reset) or else the reset. A Discord
//     global limit, and a throttle with no exhausted bucket whose wait
//     exceeds a second (GitHub's secondary limit), pause the whole host. A
//     wait of a second or less is taken as whole-second rounding: it pauses
//     only the request that got it (the caller's retry), not the host.
//   - A host never answered lets one request go first and holds the others
//     (at most a second) until its response says what the quota is. If it
//     says nothing (no quota headers, not a throttle), the others go out on
//     a ramp, from 10/s doubling every 50 ms, rather than all at once into
//     the provider's burst; the ramp is the adaptive limiter's first slow
//     start (see below) and ends at 2,000/s or at the first quota headers.
//     The ramp guards against a crowd: it runs only if two requests or more
//     waited for the first answer, not for a caller sending one at a time.
//
// Requests that must wait queue per host and are granted in order: by
// priority (limit.PriorityFrom of the context, as the Transport's limiters
// use), then by Cost.Since (a retried request keeps its first attempt's
// place), then by arrival. A timer armed for the first waiter's time,
// every response and every arrival hand the quota to the queue. A waiter
// held by something (a bucket, the adaptive limiter, a pause, the first
// contact) holds back the waiters behind it that the same thing would
// hold, so a request of 1,000 tokens is not starved by requests of 10;
// waiters it does not concern go past.
//
// Pacing keeps two safety margins, for network and scheduling jitter: a
// request paced to arrive exactly when the server's bucket has a unit may
// arrive a little early (a faster path, a delayed predecessor, timer
// rounding) and be throttled. On loopback, pacing exactly at the learned
// rate drew about 29 throttles in 500 requests (the cmd/sluice demo); see
// docs/benchmarks.md for the figures with the margins.
//
//   - A learned refill rate is paced at 98% (paceMargin): a bucket
//     refilling at 50/s is paced at 49/s. Each response re-anchors the
//     count, so what the margin leaves unused is spent as soon as a
//     response reports it.
//   - One unit (headroom) is left in every bucket that refills steadily
//     whose limit is at least 10 (minHeadroomLimit), unless the request
//     needs the whole limit: the server's bucket then sits at one unit
//     rather than none, and one request arriving early finds it. A fixed
//     window keeps none (its count resets at once, so a unit kept back is
//     lost). Stats.Remaining does not subtract it.
//
// Acquire never waits past the context's deadline: it returns at once a
// *WaitError, which matches limit.ErrWouldExceedDeadline. Limits configured
// in the Transport are separate limiters, waited on in turn: the tighter
// wins. Memory is bounded by TrackerOptions.MaxBuckets (buckets and hosts,
// least recently used forgotten first). Events are logged with slog:
// bucket_learned, bucket_paused, bucket_resumed (Info), bucket_paced and
// adaptive_rate (Debug), always outside the lock, each with the "event"
// (the message), "route" (Cost.Route, or "default:<host>"), "host" and
// "bucket" attributes.
//
// # Adaptive rate discovery
//
// A host that throttles without any quota header (a bare 429, nginx
// limit_req's 503 page, Retry-After alone) gets a client-side rate limiter
// that finds its rate, following the AWS SDKs' adaptive retry mode (a
// token bucket whose fill rate follows CUBIC, RFC 9438):
//
//   - The send rate is measured in half-second buckets and smoothed:
//     measured = 0.8*current + 0.2*measured.
//   - A throttle sets lastMax = min(measured, fillRate), W =
//     cbrt(lastMax*(1-beta)/C) and the fill rate to beta*lastMax, with
//     beta = 0.7 and C = 0.4. (sluice: measured is at least the rate of
//     successes in the last 250 ms, which a lagging average may miss.)
//   - A success sets the fill rate to C*(t - lastThrottle - W)^3 + lastMax,
//     capped at twice the measured rate: back to lastMax after W seconds,
//     then probing past it.
//   - The fill rate never goes below 0.5/s (AdaptiveOptions.MinRate) nor
//     above AdaptiveOptions.MaxRate.
//
// sluice departs from the AWS code in six documented ways, each measured
// with sluicetest (TestTrackerJobs, TestAdaptiveConverges):
//
//   - Only one decrease per congestion event: a throttle of a request sent
//     before the last decrease, or at the same instant, changes nothing
//     (TCP reacts once per round trip). AWS decreases for each, and a burst
//     of in-flight throttles collapses the rate to the floor. (Counting the
//     same instant matters at zero latency: a second decrease from the same
//     burst ended slow start at 1/s and cost a 600-request job 4 s.)
//   - The first contact ramps (see above): a throttle during the ramp sets
//     lastMax to the rate measured since the first contact, which counts
//     the provider's burst, rather than the ramp's rate, several times the
//     limit by the time the burst runs out. Releasing the 15 (or 63)
//     requests that waited for the first answer at once drew 5 to 53
//     immediate 429s; the ramp draws 2 to 7 (TestFirstContactRamps).
//   - A throttle within 10% of the rate where the last one was found
//     confirms the limit: the fill rate drops to 1-(1-beta)/3 of it (0.9
//     for beta 0.7) and CUBIC's curve climbs back as much sooner. A full
//     decrease at every confirmation kept a bare-429 job about 15% under
//     the limit for a second in every three.
//   - Slow start: after the first throttle the rate measured so far says
//     little (it is a burst's, or near zero), so the rate doubles every
//     250 ms from beta times it until the next throttle. That throttle sets
//     lastMax to the rate of successes in the last 250 ms, kept between
//     half the rate that hit the limit (TCP's ssthresh) and that rate, since
//     the smoothed measured rate lags a doubling rate. On six seeded runs
//     this raised a first 600-request job at 50/s from 0.82 to 0.91 goodput
//     (with half the rate alone; after the first-contact ramp, half the
//     rate left a first 2,400-request job at 200/s at 0.78, the accepted
//     rate at 0.87: TestAdaptiveSeeds).
//     AdaptiveOptions.InitialRate skips slow start and lands on the
//     configured rate instead.
//   - An idle gap (over a second without responses) is not counted in the
//     measured rate, so a second job does not start from a collapsed rate.
//   - The bucket holds 0.1 s of the rate (AWS: 1 s), so an idle host is not
//     hit with a full second's burst.
//
// The limiter stays with the host for the Tracker's life, so repeated jobs
// start from the rate found before.
package quota
