package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Class is what one attempt's outcome means for retrying it.
type Class int

const (
	// Success: a response the caller should see as is (1xx, 2xx, 3xx).
	Success Class = iota
	// Throttled: the server asked the client to slow down (429, or 503 with
	// a Retry-After). Retryable; the server's wait, when given, wins over the
	// backoff.
	Throttled
	// Transient: a failure that another attempt may not meet (502, 503, 504,
	// connection refused or reset, an attempt's own timeout). Retryable.
	Transient
	// Permanent: another attempt would fail the same way (other 4xx, 500,
	// 501 and other 5xx, a bad certificate, an unknown host). Not retried.
	Permanent
	// Canceled: the caller's context is done. Never retried, and neutral to
	// a circuit breaker.
	Canceled
)

// String returns the class's lower-case name, as used in logs.
func (c Class) String() string {
	switch c {
	case Success:
		return "success"
	case Throttled:
		return "throttled"
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case Canceled:
		return "canceled"
	default:
		return fmt.Sprintf("Class(%d)", int(c))
	}
}

// Retryable reports whether the class is worth another attempt (Throttled
// or Transient).
func (c Class) Retryable() bool {
	return c == Throttled || c == Transient
}

// Classify says what an attempt's outcome (the response and error of one
// RoundTrip) means for retrying it. ctx is the caller's context, that of
// the original request, not the per-attempt context the attempt was sent
// with.
//
// That is how a caller's deadline is told from an attempt's: the Transport
// sends each attempt under context.WithTimeout(callerCtx, perAttempt), so
// both end with context.DeadlineExceeded. If ctx is done too, the caller has
// given up and the outcome is Canceled; if ctx is still live, only the
// attempt timed out and the outcome is Transient. context.Canceled is always
// Canceled.
//
// Status codes: 429 and 503 with a Retry-After (in any form ParseRetryAfter
// reads) are Throttled; 502, 503 and 504 are Transient; 500 and every other
// 4xx and 5xx are Permanent, since a 500 is usually a bug that repeats (the
// issue's rule: retry 429, 502, 503, 504 and transport errors, nothing else).
// Classify sees only the status and headers; throttling that some providers
// signal otherwise (GitHub's 403 secondary limit, a 200 with a THROTTLED
// body) is for the caller to reclassify.
//
// Transport errors are Transient, except those no retry can fix: an unknown
// host, a certificate that does not verify, a server that does not speak
// TLS. An outcome with neither a response nor an error (which breaks the
// RoundTripper contract) is Permanent. When both are given, the error wins.
func Classify(ctx context.Context, resp *http.Response, err error) Class {
	if err == nil {
		if resp == nil {
			return Permanent
		}
		return classifyStatus(resp)
	}
	if ctx != nil && ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return Canceled
	}
	if permanentError(err) {
		return Permanent
	}
	return Transient
}

func classifyStatus(resp *http.Response) Class {
	switch code := resp.StatusCode; {
	case code < 400:
		return Success
	case code == http.StatusTooManyRequests:
		return Throttled
	case code == http.StatusServiceUnavailable:
		if _, ok := ParseRetryAfter(resp.Header, time.Time{}); ok { // only presence matters
			return Throttled
		}
		return Transient
	case code == http.StatusBadGateway, code == http.StatusGatewayTimeout:
		return Transient
	default:
		return Permanent
	}
}

// permanentError reports transport errors that another attempt cannot fix.
func permanentError(err error) bool {
	var (
		dns       *net.DNSError
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &dns):
		return dns.IsNotFound
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &record):
		return true
	}
	return false
}

// MethodRetryable reports whether req may be sent again by its method
// alone: GET, HEAD, PUT, DELETE, OPTIONS and TRACE are idempotent (RFC 9110
// 9.2.2); POST, PATCH and any other method only when the request carries an
// Idempotency-Key header or allowNonIdempotent is set. A nil request is not
// retryable.
//
// A 429, or a connection that failed before the request was written, may be
// retried whatever the method; see Unprocessed and Policy.MayRetry.
func MethodRetryable(req *http.Request, allowNonIdempotent bool) bool {
	if req == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete,
		http.MethodOptions, http.MethodTrace:
		return true
	}
	return allowNonIdempotent || req.Header.Get("Idempotency-Key") != ""
}

// Unprocessed reports whether the server provably did not act on the
// request: it answered 429 (RFC 6585: the request was refused, not
// processed), or the connection failed while dialling, before a byte of the
// request was sent. Such a request may be re-sent whatever its method.
func Unprocessed(resp *http.Response, err error) bool {
	if err != nil {
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	return resp != nil && resp.StatusCode == http.StatusTooManyRequests
}

// Replayable reports whether req's body can be sent again: it has none, or
// it has GetBody to make a fresh copy (net/http sets GetBody for bytes,
// strings and bytes.Buffer bodies). A body without GetBody is never
// silently dropped; such a request is just not retried.
func Replayable(req *http.Request) bool {
	return req != nil && (req.Body == nil || req.Body == http.NoBody || req.GetBody != nil)
}

// MayRetry reports whether an attempt of req that ended in resp/err, of
// class c, may be retried under p: c is Throttled or Transient, the body is
// Replayable, and either the method allows it (MethodRetryable with
// p.RetryNonIdempotent) or the server did not act on it (Unprocessed).
// Attempts, the budget and waits are checked separately.
func (p Policy) MayRetry(req *http.Request, resp *http.Response, err error, c Class) bool {
	return c.Retryable() && Replayable(req) &&
		(MethodRetryable(req, p.RetryNonIdempotent) || Unprocessed(resp, err))
}
