// Package sluice shapes the traffic a program sends to rate-limited HTTP
// APIs. Its heart is [Transport], an [net/http.RoundTripper] that wraps any
// *http.Client (yours, or a generated SDK's), and [Client], a small JSON-API
// client on top of it. One declarative [Config], written in Go or loaded from
// YAML with [LoadConfig], drives both.
//
// # The pipeline
//
// Each request passes these steps in order; a step may answer it or refuse it
// without going further:
//
//	request
//	  │
//	  ├─ 1. route      first Config.Routes entry whose Match fits (host, path, method); else Defaults per host
//	  ├─ 2. cache      GET/HEAD: a fresh entry answers at once (key: method, canonical URL,
//	  │                Vary headers, credential fingerprint); a stale one with an ETag or
//	  │                Last-Modified is revalidated by a conditional request through steps 3-8
//	  ├─ 3. coalesce   identical GETs in flight share one upstream call (on for caching routes)
//	  │   ┌──────────── per attempt ───────────────────────────────────────────────┐
//	  ├─ 4. breaker    open → ErrCircuitOpen (or a stale cache entry)              │
//	  ├─ 5. limits     provider pause (429 + Retry-After), the route's rate limits │
//	  │                (local, or shared through Redis), then the quota learned    │
//	  │                from the provider's headers; with the context's priority    │
//	  │                and deadline: a wait past the deadline → ErrRateLimited     │
//	  ├─ 6. send       concurrency cap, per-attempt timeout                        │
//	  ├─ 7. observe    quota headers feed the pacing; 429/Retry-After pauses the   │
//	  │                route; breaker counts                                       │
//	  └─ 8. retry?     safe methods only, jittered backoff, attempts + budget ─────┘
//	  │
//	response, or a typed error
//
// # Retries
//
// Only what is safe is retried: 429, 502, 503, 504 and transport errors, on
// GET, HEAD, PUT, DELETE, OPTIONS and TRACE; POST and PATCH only with an
// Idempotency-Key header or when the route opts in (RetryConfig.NonIdempotent).
// A 429 may be retried on any method: the server did not act on it. Bodies are
// replayed with Request.GetBody; a request whose body cannot be replayed is
// not retried. Every re-send is sluice's, paced by the route's limits: an
// attempt sluice may retry reaches the inner Transport without GetBody, so
// net/http does not re-send it on its own when a reused connection breaks
// (it still may for a request without a body, such as a GET). A retry
// budget per route (20% of requests, at least 10 retries a second, by
// default) stops retry storms. When retries end on a response
// (attempts spent, budget spent, Retry-After past max_retry_after, the
// deadline too near, or the next attempt refused by a limit or the breaker),
// RoundTrip returns the last response, body intact, as net/http's contract
// asks: an SDK on top sees the provider's own status and message. Its
// GaveUpHeader says why, AttemptsHeader and WaitedHeader what it took;
// [OutcomeOf] reads them and [WithOutcome] records them in the context.
// When the last attempt got no response, the error is a *RetryError
// (errors.Is ErrRetriesExhausted) that unwraps to the transport error,
// also when the request was not retried at all (a POST, a body that cannot
// be replayed). [Client] returns a *RetryError wrapping a *StatusError for a
// response sluice gave up on.
//
// # Learning the quota
//
// With quota learning on (the default; Policy.Quota), every response's rate
// limit headers (IETF RateLimit, GitHub, OpenAI, Anthropic, Shopify, X,
// Discord, GitLab, Retry-After and more, detected per response) feed a
// quota.Tracker per host, which spreads the remaining quota over the time to
// the reset and pauses an exhausted bucket until it refills. A GitHub 403 with
// no quota left counts as a throttle, an OpenAI insufficient_quota as final.
// A host that sends bare 429s gets an adaptive (CUBIC) rate found from them.
// Configured limits and learned quotas are both waited on: the tighter wins.
// Transport.Stats reports the learned buckets.
//
// # Errors
//
// Every request returns a response (whatever its status) or, when no
// response was obtained, an error that matches one of ErrRateLimited
// (*RateLimitError), ErrCircuitOpen (*CircuitError), ErrRetriesExhausted
// (*RetryError, wrapping the transport error), ErrClosed, or the request
// context's error, with errors.Is; the typed errors carry the details (the
// wait, the bucket, the attempts, the cause).
//
// # Events
//
// With Config.Logger set, every step logs a record whose message and "event"
// attribute is one of these stable names, with "route", "method" and "url"
// attributes (credentials in the URL redacted; headers are never logged):
//
//	cache_hit, cache_miss, cache_stale   the cache answered, did not, or served a stale entry
//	cache_revalidated                    a conditional request was answered 304; the stored body was served
//	cache_stale_revalidate               a stale entry was served while it is revalidated in the background
//	coalesced                            the request joined an identical one in flight
//	circuit_open                         the breaker refused the request ("state")
//	circuit_state                        the breaker changed state ("from", "to")
//	rate_wait                            the request waited for limits ("wait_ms"; Info from 2 s)
//	long_wait                            Info: about to wait 2 s or more for the route's pause ("wait_ms")
//	quota_wait                           Info: about to wait 2 s or more for a quota bucket ("bucket", "wait")
//	rate_refused                         a wait would pass the deadline or max_wait ("wait_ms", "reason")
//	rate_limited                         the provider throttled an attempt ("status")
//	route_paused                         the route pauses for the provider ("pause_ms")
//	retry_scheduled                      another attempt follows ("attempt", "wait_ms", "class", "cause")
//	retries_exhausted                    no further attempt ("attempts", "reason", "cause")
//	bucket_learned, bucket_paused,       the quota learned from the provider's headers: a bucket
//	bucket_resumed, bucket_paced,        seen, paused until its reset, resumed, paced ("pace"),
//	adaptive_rate                        the rate found from bare 429s ("host", "bucket"; no "url")
//
// [Transport.Stats] returns the counters per route.
//
// # Metrics and traces
//
// [Transport.AddObserver] plugs an [Observer] into the Transport: it sees
// every request and every attempt start and end, and the events above as
// typed [Event] values (with one rate_wait per gate waited at). The
// Prometheus exporter (module github.com/sluicehq/sluice/sluiceprom) and
// the OpenTelemetry one (github.com/sluicehq/sluice/sluiceotel) are
// Observers, each in its own module so that this one depends on neither.
// With no Observer the hook costs one atomic load and no allocation.
package sluice
