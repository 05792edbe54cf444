package sluice

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors. Every error sluice returns for a request matches one of
// them (or the context's error) with errors.Is; the typed errors below carry
// the details.
var (
	// ErrRateLimited means the request was not sent because a rate limit
	// (configured, or learned from the provider) would have made it wait past
	// its context's deadline. See *RateLimitError for the wait.
	ErrRateLimited = errors.New("sluice: rate limited")
	// ErrCircuitOpen means the request was not sent because the route's
	// circuit breaker is open after repeated upstream failures.
	ErrCircuitOpen = errors.New("sluice: circuit open")
	// ErrRetriesExhausted means every allowed attempt failed, or a retry was
	// not possible (budget spent, Retry-After too long, deadline too near).
	// See *RetryError for the last response or error.
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
	// Reason says which limit: "limit", "paused by provider" or "quota".
	Reason string
	// Err is the underlying limiter error, if any.
	Err error
	// Ceiling, when non-zero, is the route's max_wait that the wait
	// exceeds (rather than the request's deadline).
	Ceiling time.Duration
}

// Error implements error.
func (e *RateLimitError) Error() string {
	if e.Ceiling > 0 {
		return fmt.Sprintf("sluice: route %s: rate limited (%s): would wait %v, longer than max_wait %v (raise max_wait or max_retry_after to wait)",
			e.Route, e.Reason, e.Wait.Round(time.Millisecond), e.Ceiling)
	}
	return fmt.Sprintf("sluice: route %s: rate limited (%s): would wait %v, past the request's deadline",
		e.Route, e.Reason, e.Wait.Round(time.Millisecond))
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
	// "retry budget", "retry-after too long", "deadline" or "body not
	// replayable".
	Reason string
	// Err is the last attempt's error.
	Err error
}

// Error implements error.
func (e *RetryError) Error() string {
	return fmt.Sprintf("sluice: route %s: gave up after %d attempt(s) (%s): %v", e.Route, e.Attempts, e.Reason, e.Err)
}

// Is reports whether target is ErrRetriesExhausted.
func (e *RetryError) Is(target error) bool { return target == ErrRetriesExhausted }

// Unwrap returns the last attempt's error.
func (e *RetryError) Unwrap() error { return e.Err }

// StatusError is a response whose status says the request failed. The
// Transport returns it (inside a *RetryError) when it gives up on a
// retryable status; the Client returns it for every status >= 400.
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

// Error implements error.
func (e *StatusError) Error() string {
	if e.Status != "" {
		return "sluice: upstream answered " + e.Status
	}
	return fmt.Sprintf("sluice: upstream answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}
