package quota

import (
	"time"
)

// Unit is what a bucket counts.
type Unit string

// The units providers count in.
const (
	// UnitUnknown is a bucket whose unit the response did not make clear.
	// The Tracker honours its exhaustion but charges requests nothing on it.
	UnitUnknown Unit = ""
	// Requests counts requests (the default for most dialects).
	Requests Unit = "requests"
	// Tokens counts LLM tokens, input and output together (OpenAI, Anthropic).
	Tokens Unit = "tokens"
	// InputTokens counts LLM input tokens (Anthropic).
	InputTokens Unit = "input-tokens"
	// OutputTokens counts LLM output tokens (Anthropic).
	OutputTokens Unit = "output-tokens"
	// Bytes counts content bytes (IETF qu="content-bytes").
	Bytes Unit = "bytes"
	// ConcurrentRequests counts requests in flight (IETF
	// qu="concurrent-requests"); a request gives its unit back when it ends.
	ConcurrentRequests Unit = "concurrent-requests"
	// Points counts query-cost points (Shopify GraphQL).
	Points Unit = "points"
)

// Observation is what one response said about one bucket of the provider's
// quota.
type Observation struct {
	// Bucket names the bucket within its host, prefixed by the dialect:
	// "github:core", "openai:tokens", "ietf:burst", "discord:<hash>:channels/1".
	// The Tracker keys state by host and Bucket.
	Bucket string
	// Unit is what the bucket counts.
	Unit Unit
	// Limit is the bucket's capacity, or Unknown (-1) when the response did
	// not say (or sent a sentinel such as -1 or 0).
	Limit float64
	// Remaining is what is left in the bucket, or Unknown (-1).
	Remaining float64
	// Reset is the local time at which the bucket is back to Limit: the end
	// of a fixed window, or when a continuously refilling bucket is full
	// again. It is converted through the response's Date header, clamped to
	// at most MaxWait ahead, and zero when unknown.
	Reset time.Time
	// Window is the length of the bucket's window when the response states
	// or implies it (IETF w, Reddit's 10 minutes, Azure's "...3Min"), zero
	// otherwise.
	Window time.Duration
	// Continuous reports that the bucket refills steadily (a token or leaky
	// bucket: OpenAI, Anthropic, Shopify) rather than all at once at Reset.
	Continuous bool
}

// Exhausted reports whether the bucket has nothing left.
func (o Observation) Exhausted() bool { return o.Remaining == 0 }

// Signal is everything Parse learned from one response.
type Signal struct {
	// Dialect is the dialect used to read the response (the detected one
	// when Parse was given DialectAuto).
	Dialect Dialect
	// Observations holds one entry per bucket the response reported, in
	// header order. It is empty for responses from a cache (Age > 0).
	Observations []Observation
	// RetryAfter is the wait the server asked for, from retry-after-ms,
	// x-ms-retry-after-ms or Retry-After (in that order), or failing those
	// from the body of a throttle (Discord retry_after, OpenAI "try again
	// in 1.2s", Google RetryInfo). Clamped to [0, MaxWait].
	RetryAfter time.Duration
	// HasRetryAfter reports whether RetryAfter was given.
	HasRetryAfter bool
	// Hint is the wait a dialect's documentation prescribes when a throttle
	// states none (GitHub's secondary limit: at least 60 s); zero otherwise.
	Hint time.Duration
	// Throttled reports that the response is a throttle: status 429 or 503
	// (nginx limit_req's default) or 529 (Anthropic overloaded), a GitHub or
	// Google 403 that says so, a Shopify GraphQL THROTTLED error (even with
	// status 200), or x-envoy-ratelimited.
	Throttled bool
	// DoNotRetry reports that retrying soon cannot succeed: OpenAI
	// insufficient_quota, a per-day quota (Google QuotaFailure "PerDay"),
	// Salesforce REQUEST_LIMIT_EXCEEDED, an exhausted Azure APIM quota, an
	// Anthropic spend limit, an Azure lock conflict (which is not a throttle),
	// or x-should-retry / Stripe-Should-Retry: false.
	DoNotRetry bool
	// Global reports a provider-wide limit rather than a bucket's (Discord
	// X-RateLimit-Global); RetryAfter then applies to every request.
	Global bool
}

// Wait returns how long to wait before a retry can succeed, following the
// reference's precedence: Retry-After beats every vendor reset; without it,
// the latest reset among exhausted buckets; without that, the dialect's Hint.
// ok is false when the response names no wait at all.
func (s Signal) Wait(now time.Time) (d time.Duration, ok bool) {
	if s.HasRetryAfter {
		return s.RetryAfter, true
	}
	var latest time.Time
	for _, o := range s.Observations {
		if o.Exhausted() && !o.Reset.IsZero() && o.Reset.After(latest) {
			latest = o.Reset
		}
	}
	if !latest.IsZero() {
		return clampWait(latest.Sub(now)), true
	}
	if s.Hint > 0 {
		return s.Hint, true
	}
	return 0, false
}
