package sluice

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Every error the Transport returns for a request it could
// route matches one of them (or the context's error) with errors.Is; the
// typed errors below carry the details and wrap the cause. A request the
// Transport cannot take at all (no URL) gets a plain error. An error means
// no response was obtained: a response, whatever its status, is returned.
var (
	// ErrRateLimited means the request was not sent because a rate limit
	// (configured, or learned from the provider) would have made it wait past
	// its context's deadline. See *RateLimitError for the wait.
	ErrRateLimited = errors.New("sluice: rate limited")
	// ErrCircuitOpen means the request was not sent because the route's
	// circuit breaker is open after repeated upstream failures.
	ErrCircuitOpen = errors.New("sluice: circuit open")
	// ErrRetriesExhausted means the last attempt got no response (a
	// transport error) and no further attempt was made: attempts or budget
	// spent, the deadline too near, or the request not safe to retry. When
	// the last attempt got a response, the Transport returns it instead
	// (Client wraps it in a *RetryError). See *RetryError.
	ErrRetriesExhausted = errors.New("sluice: retries exhausted")
	// ErrClosed means the Transport or Client was closed.
	ErrClosed = errors.New("sluice: closed")
)

// RateLimitError reports a request refused by a rate limit. It matches
// ErrRateLimited.
type RateLimitError struct {
	// Route is the name of the route whose limit refused the request.
	Route string
	// Wait is how long the request would have had to wait.
	Wait time.Duration
	// Reason says which limit: "limit", "consumer cap" (the consumer's
	// share of the route, Config.Shares; Err is a *limit.CapError),
	// "paused by provider", "provider quota" or "cost exceeds burst".
	Reason string
	// Host and Bucket name the provider's quota bucket that refused the
	// request (Reason "provider quota"): Bucket is the provider's name for
	// it ("core", "requests", "tokens"), "host" for a host-wide pause or
	// "adaptive" for the rate found from bare 429s.
	Host, Bucket string
	// Err is the underlying limiter error, if any.
	Err error
	// Ceiling, when non-zero, is the route's max_wait that the wait
	// exceeds (rather than the request's deadline).
	Ceiling time.Duration
}

// Error implements error.
func (e *RateLimitError) Error() string {
	wait := e.Wait.Round(time.Millisecond)
	if e.Ceiling > 0 {
		what := e.Reason
		if e.Bucket != "" {
			what = fmt.Sprintf("%s bucket %q of %s", e.Reason, e.Bucket, e.Host)
		}
		return fmt.Sprintf("sluice: route %s: rate limited (%s): would wait %v, longer than max_wait %v; "+
			"raise the route's max_wait (default: retry.max_retry_after) to wait that long", e.Route, what, wait, e.Ceiling)
	}
	switch e.Reason {
	case "provider quota":
		return fmt.Sprintf("sluice: route %s: provider quota bucket %q of %s would make the request wait %v, past its deadline; "+
			"the provider's headers say it refills then; give the request a longer deadline (the quota is learned per route: quota.disabled turns it off)",
			e.Route, e.Bucket, e.Host, wait)
	case "paused by provider":
		return fmt.Sprintf("sluice: route %s: paused by the provider (Retry-After or quota reset) for %v more, past the request's deadline; "+
			"give the request a longer deadline (retry.max_retry_after caps such pauses)", e.Route, wait)
	case "redis unavailable, on_failure: deny":
		return fmt.Sprintf("sluice: route %s: Redis cannot decide the route's shared limit and redis.on_failure is deny, so the request was not sent; "+
			"bring Redis back, or set on_failure to local or allow: %v", e.Route, e.Err)
	case "consumer cap":
		return fmt.Sprintf("sluice: route %s: %v; the consumer's cap (Config.Shares) holds even when the route is idle", e.Route, e.Err)
	case "cost exceeds burst":
		return fmt.Sprintf("sluice: route %s: the request's cost is larger than the burst of the route's limit, so it can never pass; "+
			"raise limits[].burst or lower the cost (WithCost, cost): %v", e.Route, e.Err)
	}
	return fmt.Sprintf("sluice: route %s: rate limited (%s): would wait %v, past the request's deadline; "+
		"give the request a longer deadline or raise the route's limits[].rate", e.Route, e.Reason, wait)
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Unwrap returns the limiter's error.
func (e *RateLimitError) Unwrap() error { return e.Err }

// CircuitError reports a request refused by an open circuit breaker. It
// matches ErrCircuitOpen.
type CircuitError struct {
	// Route is the route whose breaker is open.
	Route string
	// Err is the breaker's error.
	Err error
}

// Error implements error.
func (e *CircuitError) Error() string {
	return fmt.Sprintf("sluice: route %s: circuit open after repeated upstream failures; not sending", e.Route)
}

// Is reports whether target is ErrCircuitOpen.
func (e *CircuitError) Is(target error) bool { return target == ErrCircuitOpen }

// Unwrap returns the breaker's error.
func (e *CircuitError) Unwrap() error { return e.Err }

// RetryError reports that a request failed after its last attempt. It
// matches ErrRetriesExhausted and unwraps to the last attempt's error: a
// transport error, or a *StatusError for the last response.
type RetryError struct {
	// Route is the request's route.
	Route string
	// Attempts is the number of attempts made.
	Attempts int
	// Reason says why no further attempt was made: "max attempts",
	// "retry budget", "retry-after too long", "deadline", "rate limited",
	// "circuit open", "not idempotent", "body not replayable" or "not
	// retryable" (see Outcome.GaveUp).
	Reason string
	// Wait is the wait the provider asked for (Retry-After or a quota
	// reset) when Reason is "retry-after too long", else 0.
	Wait time.Duration
	// Err is the last attempt's error.
	Err error
}

// Error implements error.
func (e *RetryError) Error() string {
	msg := fmt.Sprintf("sluice: route %s: gave up after %d attempt(s) (%s", e.Route, e.Attempts, e.Reason)
	if e.Wait > 0 {
		msg += fmt.Sprintf(": the provider asked to wait %v", e.Wait.Round(time.Millisecond))
	}
	msg += ")"
	if hint := retryHint[e.Reason]; hint != "" {
		msg += "; " + hint
	}
	return msg + ": " + fmt.Sprint(e.Err)
}

// retryHint says, per RetryError reason, what setting to change.
var retryHint = map[string]string{
	"max attempts":         "raise retry.max_attempts for more",
	"retry budget":         "the route's retries passed retry.budget (ratio, min_per_second)",
	"retry-after too long": "the wait is past retry.max_retry_after; raise it to wait that long",
	"deadline":             "the next attempt would start past the request's deadline; give it a longer one",
	"rate limited":         "the next attempt would wait past the deadline for the route's limits",
	"circuit open":         "the route's breaker opened (circuit.*)",
	"not idempotent":       "POST and PATCH are retried only with an Idempotency-Key header (Client: WithIdempotencyKeys) or retry.non_idempotent: true",
	"body not replayable":  "the request body has no GetBody; send a bytes.Reader, strings.Reader or bytes.Buffer, or set GetBody",
}

// Is reports whether target is ErrRetriesExhausted.
func (e *RetryError) Is(target error) bool { return target == ErrRetriesExhausted }

// Unwrap returns the last attempt's error.
func (e *RetryError) Unwrap() error { return e.Err }

// StatusError is a response whose status says the request failed. The
// Client returns it for every status >= 400 (inside a *RetryError when the
// Transport gave up retrying it); the Transport itself returns responses.
type StatusError struct {
	// StatusCode is the response's status code.
	StatusCode int
	// Status is the response's status line, e.g. "503 Service Unavailable".
	Status string
	// Header is the response's header.
	Header http.Header
	// Body is the start of the response body (at most 4 KiB).
	Body []byte
}

// Error implements error. It quotes the provider's own message from the
// body (a JSON "message"/"error" field, or the start of a text body), at
// most 200 bytes, with URLs and credential-like words redacted.
func (e *StatusError) Error() string {
	status := e.Status
	if status == "" || status == strconv.Itoa(e.StatusCode) {
		status = fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	} else if !strings.HasPrefix(status, strconv.Itoa(e.StatusCode)) {
		status = fmt.Sprintf("%d %s", e.StatusCode, status)
	}
	msg := "sluice: upstream answered " + status
	if m := providerMessage(e.Header, e.Body); m != "" {
		msg += ": " + strconv.Quote(m)
	}
	return msg
}
