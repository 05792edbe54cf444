package sluice

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/retry"
)

// done ends a request on a final outcome. A response is returned as is
// (marked with why it was not retried, if it failed); an attempt refused
// before it was sent returns the previous attempt's response, if there was
// one: the caller gets the last answer the provider gave. A transport
// error that is not retried comes back as a *RetryError; the context's own
// error, and sluice's refusals, as they are.
func (a *attempt) done(ctx context.Context, resp *http.Response, err error) (*http.Response, error) {
	if resp != nil {
		if a.stop != "" {
			return a.giveUp(ctx, resp, nil, a.stop)
		}
		return resp, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		a.dropLast()
		return nil, cerr
	}
	if last := a.last; last != nil {
		a.last = nil
		reason := a.stop
		switch {
		case errors.Is(err, ErrRateLimited):
			reason = "rate limited"
		case errors.Is(err, ErrCircuitOpen):
			reason = "circuit open"
		case reason == "":
			reason = "not retryable"
		}
		return a.giveUp(ctx, last, nil, reason)
	}
	if a.stop != "" {
		return a.giveUp(ctx, nil, err, a.stop)
	}
	return nil, err
}

// dropLast releases the previous attempt's response.
func (a *attempt) dropLast() {
	if a.last != nil {
		_ = a.last.Body.Close()
		a.last = nil
	}
}

// buffered returns resp with its body (up to 64 KiB) read into memory and
// the connection released, so that it can be returned after a later
// attempt is refused; nil when the body is larger.
func buffered(resp *http.Response) *http.Response {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10+1))
	_ = resp.Body.Close()
	if err != nil || len(body) > 64<<10 {
		return nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// retryDecision says why a failed attempt cannot be retried ("" if it
// can) and how long to wait before the next attempt (beyond the pause the
// route already observes).
func (a *attempt) retryDecision(ctx context.Context, class retry.Class) (string, time.Duration) {
	pol := &a.rt.pol.retry
	if a.n >= pol.MaxAttempts {
		return "max attempts", 0
	}
	now := time.Now()
	var wait time.Duration
	ra, hasRA := a.serverWait, a.hasServerWait
	switch {
	case hasRA && ra > pol.MaxRetryAfter:
		return "retry-after too long", 0
	case hasRA && class == retry.Throttled && a.routePaused(ra):
		// The route is paused until then (see throttled); the next attempt
		// waits in line behind the pause.
	case hasRA && class == retry.Throttled && a.rt.pol.quota && ra%time.Second == 0:
		// A whole second (the route is not paused for it) may be rounding
		// of a wait of 20 ms: back off (at most ra) and let the pace
		// decide, the learned rate's or the route's configured limit's.
		a.delay = pol.Delay(a.n, a.delay, rand.Float64)
		wait = min(a.delay, ra)
	case hasRA:
		wait = ra
	case class == retry.Throttled && !a.rt.pol.quota:
		// A bare throttle: the whole route backs off, not just this request.
		a.delay = pol.Delay(a.n, a.delay, rand.Float64)
		a.t.pause(ctx, a.rt, a.req, now.Add(a.delay))
	default:
		// With quota learning on, the adaptive limiter slows the host down
		// after a bare throttle; this request backs off on its own.
		a.delay = pol.Delay(a.n, a.delay, rand.Float64)
		wait = a.delay
	}
	if dl, ok := ctx.Deadline(); ok {
		until := now.Add(wait)
		if p := a.rt.pause.Load(); p > until.UnixNano() {
			until = time.Unix(0, p)
		}
		if until.After(dl) {
			return "deadline", 0
		}
	}
	return "", wait
}

// routePaused reports whether a throttle asking to wait ra pauses the
// whole route. Without quota learning every Retry-After does. With it, a
// wait of a second or less is taken as whole-second rounding of a shorter
// one: the quota Tracker paces the other requests, and only the throttled
// request waits it out.
func (a *attempt) routePaused(ra time.Duration) bool {
	return !a.rt.pol.quota || ra > time.Second
}

// whyNotRetried says why a failed attempt that MayRetry refused is not
// retried ("" when it did not fail).
func (a *attempt) whyNotRetried(resp *http.Response, err error, class retry.Class) string {
	switch {
	case class.Retryable() && !retry.Replayable(a.req):
		return "body not replayable"
	case class.Retryable():
		return "not idempotent"
	case err != nil:
		return "not retryable"
	}
	return ""
}

// giveUp ends a request whose last attempt failed and cannot be retried. A
// response is returned, body intact, marked with the reason (GaveUpHeader);
// only an attempt that got no response ends in a *RetryError.
func (a *attempt) giveUp(ctx context.Context, resp *http.Response, err error, reason string) (*http.Response, error) {
	a.gaveUp = reason
	if a.info != nil {
		a.info.gaveUp.Store(&reason)
		if reason == "retry-after too long" {
			a.info.serverNs.Store(int64(a.serverWait))
		}
	}
	a.t.event(ctx, slog.LevelWarn, "retries_exhausted", a.rt, a.req,
		slog.Int("attempts", a.n), slog.String("reason", reason), slog.String("cause", errOrStatus(resp, err)))
	if resp != nil {
		return resp, nil
	}
	// A base transport's error may quote the URL, credentials included;
	// the redacted error still matches what err matched.
	return nil, &RetryError{Route: a.rt.name, Attempts: a.n, Reason: reason, Err: redact.Error(err)}
}
