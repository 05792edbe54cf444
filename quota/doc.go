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
// Precedence follows the reference notes: Retry-After beats every vendor
// reset; without it, the wait is the latest reset among exhausted buckets;
// without that, a dialect's documented minimum (GitHub's secondary limit:
// 60 s). See Signal.Wait.
package quota
