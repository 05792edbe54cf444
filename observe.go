package sluice

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Observer receives what a Transport does, for metrics and tracing: the
// start and end of every request and of every attempt sent upstream, and
// the pipeline's events. The Prometheus and OpenTelemetry exporters
// (modules github.com/sluicehq/sluice/sluiceprom and
// github.com/sluicehq/sluice/sluiceotel) are Observers; add one with
// [Transport.AddObserver].
//
// A Transport with no Observer makes no call and allocates nothing for
// them. Methods are called on the request's goroutine, never under a lock
// of the Transport; they must be safe for concurrent use, return quickly
// and not block.
type Observer interface {
	// StartRequest is called when RoundTrip has matched req to its route.
	// It returns the request to go on with: req itself, or a shallow copy
	// with a new context (req.WithContext), for instance carrying a span.
	// It must not modify req.
	StartRequest(req *http.Request, r RouteInfo) *http.Request
	// EndRequest is called when RoundTrip returns resp, err after elapsed,
	// with the request StartRequest returned.
	EndRequest(req *http.Request, r RouteInfo, resp *http.Response, err error, elapsed time.Duration)
	// StartAttempt is called just before an attempt is sent to the base
	// transport, after every wait. It returns the request to send: areq,
	// or a copy (areq.Clone, to add headers such as trace context). It
	// must not modify areq.
	StartAttempt(areq *http.Request, a AttemptInfo) *http.Request
	// EndAttempt is called when the base transport returned resp, err for
	// the request StartAttempt returned, after elapsed (response headers
	// received; the body may still be unread).
	EndAttempt(areq *http.Request, a AttemptInfo, resp *http.Response, err error, elapsed time.Duration)
	// Event reports one step of a request (see Event); ctx is the
	// request's context as StartRequest made it.
	Event(ctx context.Context, e Event)
}

// RouteInfo names the route a request took.
type RouteInfo struct {
	// Name is the route's name; "default:<host>" for a request that
	// matched no route.
	Name string
	// Unrouted reports a request that matched no route (it took
	// Config.Defaults). Exporters that must keep their label values bounded
	// report these under one name ("default") instead of Name.
	Unrouted bool
}

// AttemptInfo describes one attempt of a request.
type AttemptInfo struct {
	RouteInfo
	// Resend is the number of attempts sent before this one for the same
	// request: 0 for the first (OpenTelemetry's http.request.resend_count).
	Resend int
}

// Event is one step of a request, as an Observer receives it. Kind is one
// of the stable event names of the package doc (cache_hit, cache_miss,
// cache_stale, coalesced, circuit_open, rate_refused, rate_limited,
// route_paused, retry_scheduled, retries_exhausted) or rate_wait. Observers
// get rate_wait once per gate a request actually waited at (a millisecond
// or more, like Stats.Waited), with Reason "limit" (the route's rate
// limits), "provider_pause" (a pause a throttle ordered), "quota" (the
// quota learned from the provider's headers) or "concurrency" (the route's
// concurrency cap), and Wait the exact time waited.
type Event struct {
	// Kind is the event's name.
	Kind string
	// Route is the route of the request.
	Route RouteInfo
	// Wait is the time waited (rate_wait), the wait refused (rate_refused),
	// the pause ordered (route_paused) or the backoff before the next
	// attempt (retry_scheduled).
	Wait time.Duration
	// Reason says why: the gate of rate_wait, the limit of rate_refused
	// ("limit", "paused by provider", "provider quota"), why retries
	// ended for retries_exhausted ("max attempts", "retry budget",
	// "deadline", ...), the class of the failed attempt for
	// retry_scheduled ("throttled", "transient"). Values come from a fixed
	// set, never from the request.
	Reason string
	// Attempt is the number of attempts made so far (retry_scheduled,
	// retries_exhausted).
	Attempt int
	// Status is the HTTP status of a throttle (rate_limited).
	Status int
}

// Gates of rate_wait events (Event.Reason).
const (
	WaitLimit         = "limit"
	WaitProviderPause = "provider_pause"
	WaitQuota         = "quota"
	WaitConcurrency   = "concurrency"
)

// OutcomeSuccess is the outcome of a request answered with a status below
// 400; the other outcomes are the failure kinds of RouteStats.Failures.
const OutcomeSuccess = "success"

// RequestOutcome classifies what RoundTrip returned, as Stats counts it:
// OutcomeSuccess, or one of the failure kinds of RouteStats.Failures
// ("status_4xx", "status_5xx", "retries_exhausted" for a failed response
// sluice gave up retrying, "rate_limited", "circuit_open", "canceled",
// "transport"). ctx is the request's context. Exporters use it so that
// their outcome labels match Stats.
func RequestOutcome(ctx context.Context, resp *http.Response, err error) string {
	switch {
	case err == nil && resp.StatusCode < 400:
		return OutcomeSuccess
	case err == nil && exhausted(resp):
		return failExhausted
	case err == nil && resp.StatusCode < 500:
		return failStatus4xx
	case err == nil:
		return failStatus5xx
	case errors.Is(err, ErrRateLimited):
		return failRateLimited
	case errors.Is(err, ErrCircuitOpen):
		return failCircuitOpen
	case errors.Is(err, ErrRetriesExhausted):
		return failExhausted
	case ctx.Err() != nil:
		return failCanceled
	}
	return failTransport
}

// observers is the Transport's immutable list of Observers.
type observers []Observer

// AddObserver makes o receive what t does from now on, after the
// Observers added before it. It is safe to call while requests are in
// flight; a request already started may miss some of o's calls. A nil o is
// ignored.
func (t *Transport) AddObserver(o Observer) {
	if o == nil {
		return
	}
	t.obsMu.Lock()
	defer t.obsMu.Unlock()
	var next observers
	if cur := t.obs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, o)
	t.obs.Store(&next)
}

func (rt *route) info() RouteInfo { return RouteInfo{Name: rt.name, Unrouted: rt.unrouted} }

// startRequest runs the Observers' StartRequest hooks.
func (ob observers) startRequest(req *http.Request, rt *route) *http.Request {
	ri := rt.info()
	for _, o := range ob {
		req = o.StartRequest(req, ri)
	}
	return req
}

func (ob observers) endRequest(req *http.Request, rt *route, resp *http.Response, err error, elapsed time.Duration) {
	ri := rt.info()
	for _, o := range ob {
		o.EndRequest(req, ri, resp, err, elapsed)
	}
}

// roundTrip sends one attempt through the base transport, between the
// Observers' StartAttempt and EndAttempt hooks.
func (a *attempt) roundTrip(areq *http.Request) (*http.Response, error) {
	op := a.t.obs.Load()
	if op == nil {
		return a.t.base.RoundTrip(areq)
	}
	ai := AttemptInfo{RouteInfo: a.rt.info(), Resend: a.n - 1}
	for _, o := range *op {
		areq = o.StartAttempt(areq, ai)
	}
	start := time.Now()
	resp, err := a.t.base.RoundTrip(areq)
	elapsed := time.Since(start)
	for _, o := range *op {
		o.EndAttempt(areq, ai, resp, err, elapsed)
	}
	return resp, err
}

// observeWait reports a wait of d at gate reason to the Observers.
func (t *Transport) observeWait(ctx context.Context, rt *route, reason string, d time.Duration) {
	if d < time.Millisecond {
		return
	}
	if op := t.obs.Load(); op != nil {
		e := Event{Kind: "rate_wait", Route: rt.info(), Reason: reason, Wait: d}
		for _, o := range *op {
			o.Event(ctx, e)
		}
	}
}

// observed reports whether t has Observers (so that a gate's wait is worth
// timing).
func (t *Transport) observed() bool { return t.obs.Load() != nil }

// observeEvent passes a logged event on to the Observers, its attributes
// read into an Event. rate_wait is not passed on: Observers get one per
// gate from observeWait instead.
func (t *Transport) observeEvent(ctx context.Context, name string, rt *route, attrs []slog.Attr) {
	op := t.obs.Load()
	if op == nil || name == "rate_wait" {
		return
	}
	e := Event{Kind: name, Route: rt.info()}
	for _, at := range attrs {
		switch at.Key {
		case "wait_ms", "pause_ms":
			e.Wait = time.Duration(at.Value.Int64()) * time.Millisecond
		case "reason", "class":
			e.Reason = at.Value.String()
		case "attempt", "attempts":
			e.Attempt = int(at.Value.Int64())
		case "status":
			e.Status = int(at.Value.Int64())
		}
	}
	for _, o := range *op {
		o.Event(ctx, e)
	}
}

// acquire takes a place under the route's concurrency cap,
// reporting the wait to the Observers.
func (a *attempt) acquire(ctx context.Context) (func(), error) {
	if a.rt.sem == nil || !a.t.observed() {
		return a.rt.acquire(ctx)
	}
	start := time.Now()
	release, err := a.rt.acquire(ctx)
	if err == nil {
		a.t.observeWait(ctx, a.rt, WaitConcurrency, time.Since(start))
	}
	return release, err
}

// RouteRedisStats sums the counters of the Redis-shared limiters of one
// route (see redislimit.Stats).
type RouteRedisStats struct {
	// Route is the route's name.
	Route string
	// Calls, Errors and Fallbacks are the script calls sent, those that
	// failed, and the decisions made by the failure policy instead of
	// Redis.
	Calls, Errors, Fallbacks int64
	// Down reports whether the failure policy is engaged now for any of
	// the route's limiters.
	Down bool
}

// RedisStats returns the Redis counters of every configured route with
// limits kept in Redis, in configuration order.
func (t *Transport) RedisStats() []RouteRedisStats {
	var out []RouteRedisStats
	for _, r := range t.routes {
		if len(r.limits.redis) == 0 {
			continue
		}
		s := RouteRedisStats{Route: r.name}
		for _, l := range r.limits.redis {
			ls := l.Stats()
			s.Calls += ls.Calls
			s.Errors += ls.Errors
			s.Fallbacks += ls.Fallbacks
			s.Down = s.Down || ls.Down
		}
		out = append(out, s)
	}
	return out
}
