package sluice

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/circuit"
	"github.com/sluicehq/sluice/limit"
	"github.com/sluicehq/sluice/limit/redislimit"
	"github.com/sluicehq/sluice/quota"
	"github.com/sluicehq/sluice/retry"
)

// send runs the breaker, limit, attempt and retry steps for one request,
// and marks the response it returns with the outcome (see OutcomeOf).
func (t *Transport) send(req *http.Request, rt *route, host string) (*http.Response, error) {
	ctx := req.Context()
	rt.budget.Deposit()
	brk, err := rt.breakerFor(host)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	lim, err := rt.limitsFor(host)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	wctx, stop := t.waitContext(ctx)
	defer stop()
	a := attempt{t: t, rt: rt, req: req, brk: brk, lim: lim, cost: costOf(ctx, rt.pol.cost), wctx: wctx}
	a.revalidation = ctx.Value(revalidationKey{}) != nil
	a.info, _ = ctx.Value(infoKey{}).(*requestInfo)
	resp, err := a.run(ctx)
	markResponse(resp, a.n, a.waited, a.gaveUp)
	return resp, err
}

// closedErr returns ErrClosed when err ended a wait because the Transport
// was closed, else err.
func (a *attempt) closedErr(err error) error {
	if err != nil && a.t.closed.Load() && context.Cause(a.wctx) == ErrClosed {
		return ErrClosed
	}
	return err
}

// attempt holds the state of one request across its attempts.
type attempt struct {
	t    *Transport
	rt   *route
	req  *http.Request
	brk  *circuit.Breaker
	lim  *limitPair
	cost int64
	wctx context.Context // the request's context, also ended by Close: for waits
	info *requestInfo    // the caller's record, or nil
	n    int             // attempts made
	// revalidation: the cache's conditional request (quota.Cost.Revalidation)
	revalidation bool
	delay        time.Duration // last backoff, for decorrelated jitter
	firstAsk     time.Time     // the first attempt's quota request (quota.Cost.Since)

	// serverWait is the wait the last response asked for, if it asked
	// (hasServerWait).
	serverWait    time.Duration
	hasServerWait bool

	waited time.Duration  // time spent waiting, all attempts
	stop   string         // why the last attempt's failure is not retried
	gaveUp string         // the reason retrying ended, once it did
	last   *http.Response // the previous attempt's failed response, body buffered
}

func (a *attempt) run(ctx context.Context) (*http.Response, error) {
	for {
		resp, class, err := a.once(ctx)
		if class == classDone {
			return a.done(ctx, resp, err)
		}
		reason, wait := a.retryDecision(ctx, class)
		if reason == "" && !a.rt.budget.TryWithdraw() {
			reason = "retry budget"
		}
		if reason != "" {
			return a.giveUp(ctx, resp, err, reason)
		}
		cause := errOrStatus(resp, err)
		if resp != nil {
			a.last = buffered(resp)
		}
		a.rt.stats.retries.Add(1)
		a.t.event(ctx, slog.LevelInfo, "retry_scheduled", a.rt, a.req,
			slog.Int("attempt", a.n), slog.Int64("wait_ms", wait.Milliseconds()),
			slog.String("class", class.String()), slog.String("cause", cause))
		if wait > 0 {
			start := time.Now()
			err := sleep(a.wctx, wait)
			a.addWait(time.Since(start))
			if err != nil {
				return nil, a.closedErr(err)
			}
		}
	}
}

// addWait adds d to the request's waiting time.
func (a *attempt) addWait(d time.Duration) {
	a.waited += d
	if a.info != nil {
		a.info.waitedNs.Add(int64(d))
	}
}

// classDone marks an attempt whose outcome is final.
const classDone retry.Class = -1

// once makes one attempt: breaker, limits, quota, concurrency cap, send.
// A final outcome comes back with classDone; a retryable one with its class
// and the response or error (the response body still open).
func (a *attempt) once(ctx context.Context) (*http.Response, retry.Class, error) {
	a.stop = ""
	start := time.Now()
	g, err := a.admit(a.wctx)
	if waited := time.Since(start); waited > time.Millisecond {
		a.addWait(waited)
	}
	if err == nil && a.t.closed.Load() {
		g.abandon() // nothing is sent after Close
		err = ErrClosed
	}
	if err != nil {
		closeBody(a.req)
		return nil, classDone, a.closedErr(err)
	}
	areq, cancel, err := a.prepare(ctx)
	if err != nil {
		g.abandon()
		a.stop = "body not replayable"
		return nil, classDone, err
	}
	release := g.release
	a.dropLast()
	a.n++
	a.rt.stats.attempts.Add(1)
	if a.info != nil {
		a.info.attempts.Store(int64(a.n))
	}
	resp, err := a.roundTrip(areq) // observe.go
	g.observe(resp, err)
	class := a.readThrottle(resp, retry.Classify(ctx, resp, err))
	g.breaker(a.outcome(class, resp, err))
	if class == retry.Throttled {
		a.rt.stats.throttles.Add(1)
		a.throttled(ctx, resp)
	}
	// A request the server may have acted on is re-sent only when that is
	// safe: an idempotent method, an Idempotency-Key, or an opted-in route.
	mayRetry := a.rt.pol.retry.MayRetry(a.req, resp, err, class)
	if !mayRetry {
		a.stop = a.whyNotRetried(resp, err, class)
	}
	if err != nil {
		cancel()
		release()
		if !mayRetry {
			return nil, classDone, err
		}
		return nil, class, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { cancel(); release() }}
	if !mayRetry {
		return resp, classDone, nil
	}
	return resp, class, nil
}

// gate is what an attempt holds while it is sent: its breaker permit, its
// quota ticket and its place under the concurrency cap.
type gate struct {
	breaker func(circuit.Outcome)
	observe func(*http.Response, error)
	release func()
}

// abandon gives everything back for an attempt that was never sent.
func (g gate) abandon() {
	g.breaker(circuit.Neutral)
	g.observe(nil, nil)
	g.release()
}

// admit passes the attempt through the breaker, the route's pause and
// limits, the provider's quota and the concurrency cap, in that order.
func (a *attempt) admit(ctx context.Context) (gate, error) {
	g := gate{breaker: func(circuit.Outcome) {}, observe: func(*http.Response, error) {}, release: func() {}}
	if a.brk != nil {
		d, err := a.brk.Allow()
		if err != nil {
			a.t.event(ctx, slog.LevelWarn, "circuit_open", a.rt, a.req, slog.String("state", a.brk.State().String()))
			return g, &CircuitError{Route: a.rt.name, Err: err}
		}
		g.breaker = d
	}
	if err := a.t.waitTurn(ctx, a.rt, a.lim, a.cost, a.req); err != nil {
		g.abandon()
		return g, err
	}
	if a.rt.pol.quota {
		start := time.Now()
		d, err := a.t.quota.Acquire(ctx, a.req.URL.Host, a.quotaCost(ctx))
		if waited := time.Since(start); waited > time.Millisecond {
			a.rt.stats.waitedNs.Add(int64(waited))
			a.t.observeWait(ctx, a.rt, WaitQuota, waited)
		}
		if err != nil {
			g.abandon()
			return g, a.t.quotaRefused(ctx, a.rt, a.req, err)
		}
		g.observe = d
	}
	release, err := a.acquire(ctx) // observe.go
	if err != nil {
		g.abandon()
		return g, err
	}
	g.release = release
	return g, nil
}

// quotaCost is what the request draws from the provider's quota buckets:
// one request, and the tokens its context states (WithCost).
func (a *attempt) quotaCost(ctx context.Context) quota.Cost {
	if a.firstAsk.IsZero() {
		a.firstAsk = time.Now()
	}
	c := quota.Cost{Requests: 1, Dialect: a.rt.pol.dialect, MaxWait: a.rt.pol.maxWait, MaxPause: a.rt.pol.retry.MaxRetryAfter,
		Revalidation: a.revalidation, Since: a.firstAsk}
	// A route with a configured rate paces itself: a bare throttle then
	// is arrival jitter, not a sign to discover a lower rate.
	c.Paced = a.lim != nil && a.lim.requests != nil
	if n, ok := ctx.Value(costKey{}).(int64); ok && n > 0 {
		c.Tokens = n
	}
	if !a.rt.unrouted {
		c.Route = a.rt.name
	}
	return c
}

// quotaRefused turns a quota wait that would pass the deadline into a
// *RateLimitError.
func (t *Transport) quotaRefused(ctx context.Context, rt *route, req *http.Request, err error) error {
	var we *quota.WaitError
	if errors.As(err, &we) {
		t.event(ctx, slog.LevelWarn, "rate_refused", rt, req, slog.Int64("wait_ms", we.Wait.Milliseconds()),
			slog.String("reason", "provider quota"), slog.String("bucket", we.Bucket))
		return &RateLimitError{Route: rt.name, Wait: we.Wait, Reason: "provider quota", Host: we.Host, Bucket: we.Bucket, Err: err, Ceiling: we.Ceiling}
	}
	return err
}

// outcome maps an attempt's outcome to what the breaker counts: 5xx,
// timeouts and connection errors are failures; a 429 is flow control, not
// sickness, unless the route says so; a canceled caller counts for nothing.
func (a *attempt) outcome(c retry.Class, resp *http.Response, err error) circuit.Outcome {
	switch c {
	case retry.Success:
		return circuit.Success
	case retry.Permanent:
		if err != nil || resp.StatusCode >= 500 {
			return circuit.Failure
		}
		return circuit.Success
	case retry.Transient:
		return circuit.Failure
	case retry.Throttled:
		if a.rt.pol.circuit.TripOn429 {
			return circuit.Failure
		}
	}
	return circuit.Neutral
}

// readThrottle reads what a response says about throttling: the wait the
// server asks for and, with quota learning on, the provider's own signals,
// which turn a GitHub 403 with no quota left into a throttle and OpenAI's
// insufficient_quota into a final answer.
func (a *attempt) readThrottle(resp *http.Response, class retry.Class) retry.Class {
	a.serverWait, a.hasServerWait = 0, false
	if resp == nil || resp.StatusCode < 400 {
		return class
	}
	now := time.Now()
	if !a.rt.pol.quota {
		a.serverWait, a.hasServerWait = retry.ParseRetryAfter(resp.Header, now)
		return class
	}
	sig := quota.Parse(resp, now, a.rt.pol.dialect)
	a.serverWait, a.hasServerWait = sig.Wait(now)
	switch {
	case sig.DoNotRetry:
		return retry.Permanent
	case sig.Throttled && (resp.StatusCode < 500 || !sig.HasRetryAfter):
		// A 503 that is nginx limit_req's page or reports an empty bucket
		// is flow control, not sickness: it must not trip the breaker. A
		// 503 with only a Retry-After may be an outage and stays one.
		return retry.Throttled
	}
	return class
}

// throttled handles a throttle response: the route pauses until the
// provider's Retry-After (capped), so other requests do not each spend an
// attempt learning the same thing.
func (a *attempt) throttled(ctx context.Context, resp *http.Response) {
	a.t.event(ctx, slog.LevelInfo, "rate_limited", a.rt, a.req, slog.Int("status", statusOf(resp)))
	if a.hasServerWait && a.routePaused(a.serverWait) {
		a.t.pause(ctx, a.rt, a.req, time.Now().Add(min(a.serverWait, a.rt.pol.retry.MaxRetryAfter)))
	}
}

func (t *Transport) pause(ctx context.Context, rt *route, req *http.Request, until time.Time) {
	// Limits kept in Redis pass the pause on to every process sharing them;
	// this process's requests wait on the route's own pause.
	for _, l := range rt.limits.redis {
		_ = l.PauseUntil(ctx, until)
	}
	if rt.pauseUntil(until) {
		t.event(ctx, slog.LevelInfo, "route_paused", rt, req, slog.Int64("pause_ms", time.Until(until).Milliseconds()))
	}
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// waitTurn waits for the route's provider pause and its rate limits.
func (t *Transport) waitTurn(ctx context.Context, rt *route, lims *limitPair, cost int64, req *http.Request) error {
	start := time.Now()
	if left := rt.pauseLeft(start); left > 0 {
		if dl, ok := ctx.Deadline(); ok && start.Add(left).After(dl) {
			t.event(ctx, slog.LevelWarn, "rate_refused", rt, req, slog.Int64("wait_ms", left.Milliseconds()), slog.String("reason", "paused by provider"))
			return &RateLimitError{Route: rt.name, Wait: left, Reason: "paused by provider"}
		}
		if left > rt.pol.maxWait {
			t.event(ctx, slog.LevelWarn, "rate_refused", rt, req, slog.Int64("wait_ms", left.Milliseconds()), slog.String("reason", "paused by provider"))
			return &RateLimitError{Route: rt.name, Wait: left, Reason: "paused by provider", Ceiling: rt.pol.maxWait}
		}
		if left >= quota.LongWait {
			t.event(ctx, slog.LevelInfo, "long_wait", rt, req, slog.Int64("wait_ms", left.Milliseconds()), slog.String("reason", "paused by provider"))
		}
		if err := sleep(ctx, left); err != nil {
			return err
		}
		t.observeWait(ctx, rt, WaitProviderPause, left)
	}
	limStart := start
	if t.observed() {
		limStart = time.Now()
	}
	for p := lims; p != nil; p = p.shared {
		if err := t.waitLimit(ctx, rt, req, p.requests, 1); err != nil {
			return err
		}
		if err := t.waitLimit(ctx, rt, req, p.cost, cost); err != nil {
			return err
		}
	}
	if t.observed() {
		t.observeWait(ctx, rt, WaitLimit, time.Since(limStart))
	}
	if waited := time.Since(start); waited > time.Millisecond {
		rt.stats.waitedNs.Add(int64(waited))
		level := slog.LevelDebug
		if waited >= quota.LongWait {
			level = slog.LevelInfo
		}
		t.event(ctx, level, "rate_wait", rt, req, slog.Int64("wait_ms", waited.Milliseconds()))
	}
	return nil
}

// waitLimit waits for n units of lim (nil: no limit).
func (t *Transport) waitLimit(ctx context.Context, rt *route, req *http.Request, lim limit.Limiter, n int64) error {
	if lim == nil {
		return nil
	}
	err := lim.Wait(ctx, n)
	if err == nil {
		return nil
	}
	var we *limit.WaitError
	if errors.As(err, &we) {
		reason := "limit"
		var ce *limit.CapError
		if errors.As(err, &ce) {
			reason = "consumer cap"
		}
		t.event(ctx, slog.LevelWarn, "rate_refused", rt, req, slog.Int64("wait_ms", we.Wait.Milliseconds()), slog.String("reason", reason))
		return &RateLimitError{Route: rt.name, Wait: we.Wait, Reason: reason, Err: err}
	}
	if errors.Is(err, limit.ErrCostExceedsBurst) {
		return &RateLimitError{Route: rt.name, Reason: "cost exceeds burst", Err: err}
	}
	if errors.Is(err, redislimit.ErrUnavailable) {
		// on_failure: deny refuses while Redis cannot decide.
		t.event(ctx, slog.LevelWarn, "rate_refused", rt, req, slog.String("reason", "redis unavailable"))
		return &RateLimitError{Route: rt.name, Reason: "redis unavailable, on_failure: deny", Err: err}
	}
	return err
}

// acquire takes a place under the route's concurrency cap.
func (r *route) acquire(ctx context.Context) (func(), error) {
	if r.sem == nil {
		return func() {}, nil
	}
	select {
	case r.sem <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-r.sem }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// releaseBody runs release once when the body is closed.
type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// drainClose reads a little of resp's body, so the connection can be reused,
// and closes it.
func drainClose(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

type costKey struct{}

// WithCost returns a context whose requests take n units from each rate
// limit of their route, instead of the route's Cost (e.g. the tokens of an
// LLM call).
func WithCost(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, costKey{}, n)
}

func costOf(ctx context.Context, def int64) int64 {
	if n, ok := ctx.Value(costKey{}).(int64); ok && n > 0 {
		return n
	}
	return def
}
