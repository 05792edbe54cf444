package sluice

import (
	"context"
	"net/http"

	"github.com/sluicehq/sluice/retry"
)

// prepare returns the request for the next attempt, with a fresh body and
// the per-attempt timeout, and the cancel func of that timeout.
//
// net/http's Transport re-sends a request whose connection was reused and
// then broke, if it can replay the body and the request is idempotent,
// which a POST with an Idempotency-Key is. It does so inside one RoundTrip,
// on a new connection, without passing through the route's limits, breaker
// or retry budget: the provider is charged for a request sluice never
// counted, and those unpaced re-sends draw 429s on a route configured at
// the provider's exact rate. So when sluice's own retry may re-send the
// request (retriesOwnResends), the attempt goes out without GetBody: the
// Transport returns the error instead, and sluice re-sends the request with
// a fresh body, through the limits. The caller's request keeps its GetBody.
//
// A request without a body (a GET) is replayable to net/http whatever
// GetBody says; its re-sends are not prevented here.
func (a *attempt) prepare(ctx context.Context) (*http.Request, context.CancelFunc, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if d := a.rt.pol.timeout; d > 0 {
		actx, cancel = context.WithTimeout(ctx, d)
	}
	hasBody := a.req.Body != nil && a.req.Body != http.NoBody
	owned := hasBody && a.req.GetBody != nil && a.retriesOwnResends()
	if a.n == 0 {
		if actx == ctx && ctx == a.req.Context() && !owned {
			return a.req, cancel, nil
		}
		r := a.req.WithContext(actx)
		if owned {
			r.GetBody = nil
		}
		return r, cancel, nil
	}
	r := a.req.Clone(actx)
	if hasBody {
		body, err := a.req.GetBody()
		if err != nil {
			cancel()
			return nil, nil, err
		}
		r.Body = body
		if owned {
			r.GetBody = nil
		}
	}
	return r, cancel, nil
}

// retriesOwnResends reports whether sluice's retry may re-send the request
// after the server could have acted on it (more than one attempt, and a
// method or Idempotency-Key that allows it): then sluice, not the inner
// Transport, makes every re-send. Otherwise the inner Transport keeps
// GetBody and with it its own re-send of a request that never left (a
// keep-alive connection the server had closed), which is safe for any
// method and is the only re-send such a request gets.
func (a *attempt) retriesOwnResends() bool {
	p := a.rt.pol.retry
	return p.MaxAttempts > 1 && retry.MethodRetryable(a.req, p.RetryNonIdempotent)
}
