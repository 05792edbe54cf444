package sluice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/httpcache"
	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/quota"
)

// Transport is an http.RoundTripper that shapes requests to rate-limited
// APIs: it matches each request to a route and applies the route's cache,
// coalescing, circuit breaker, rate limits, retries and observation, in that
// order (see the package doc). It is safe for concurrent use.
type Transport struct {
	base     http.RoundTripper
	log      *slog.Logger
	routes   []*route
	defaults policy
	unrouted *hostMap[*route] // one route state per host for unmatched requests
	cs       *cacheStore      // the response cache; nil when no route caches
	bg       *background      // stale-while-revalidate refreshes; nil when no route caches
	quota    *quota.Tracker
	lb       *limitBuilder
	ownRedis io.Closer // the Redis client the Transport made, or nil
	closed   atomic.Bool
	// closing is canceled by Close, ending the waits of queued requests.
	closing  context.Context
	closeNow context.CancelFunc
	obs      atomic.Pointer[observers] // nil until AddObserver (observe.go)
	obsMu    sync.Mutex                // serialises AddObserver
}

// NewTransport builds a Transport from cfg, sending through base; nil base
// means http.DefaultTransport. It validates cfg and returns every problem
// found, each naming the field.
func NewTransport(cfg Config, base http.RoundTripper) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{base: base, log: cfg.Logger}
	t.closing, t.closeNow = context.WithCancel(context.Background())
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	tracker, err := quota.NewTracker(trackerOptions(cfg.Quota, t.log))
	if err != nil {
		return nil, fmt.Errorf("sluice: quota: %w", err)
	}
	t.quota = tracker
	if t.lb, t.ownRedis, err = newLimitBuilder(cfg.Redis, t.log); err != nil {
		return nil, err
	}
	t.lb.shares = cfg.Shares
	t.defaults = compilePolicy(cfg.Defaults)
	caching := t.defaults.cache.TTL > 0
	for i, rc := range cfg.Routes {
		name := rc.Name
		if name == "" {
			name = fmt.Sprintf("route%d", i)
		}
		pol := compilePolicy(resolve(rc.Policy, cfg.Defaults))
		r, err := newRoute(name, rc.Match, pol, t.log, t.lb)
		if err != nil {
			return nil, fmt.Errorf("sluice: routes[%d]: %w", i, err)
		}
		caching = caching || pol.cache.TTL > 0
		t.routes = append(t.routes, r)
	}
	// Check the defaults build before the first request needs them.
	if _, err := newRoute("default", Match{}, t.defaults, t.log, t.lb); err != nil {
		return nil, fmt.Errorf("sluice: defaults: %w", err)
	}
	t.unrouted = newHostMap(func(host string) (*route, error) {
		r, err := newRoute("default:"+host, Match{}, t.defaults, t.log, t.lb)
		if r != nil {
			r.unrouted = true
		}
		return r, err
	})
	if caching {
		cs, err := newCacheStore(cfg.Cache, t.lb, cfg.Redis)
		if err != nil {
			t.lb.close()
			if t.ownRedis != nil {
				t.ownRedis.Close()
			}
			return nil, err
		}
		t.cs = cs
		t.bg = newBackground()
	}
	return t, nil
}

// routeFor returns the route of req.
func (t *Transport) routeFor(req *http.Request, host string) (*route, error) {
	for _, r := range t.routes {
		if r.match.matches(req, host) {
			return r, nil
		}
	}
	return t.unrouted.get(host)
}

// RoundTrip implements http.RoundTripper and keeps its contract: when an
// attempt got a response, the caller gets the last one, body intact,
// whatever its status, even when retries were spent on it (GaveUpHeader
// and OutcomeOf say so; WithOutcome records it). An error means no
// response was obtained; it matches ErrRateLimited, ErrCircuitOpen,
// ErrRetriesExhausted (a transport error, wrapped in a *RetryError),
// ErrClosed or the request context's error with errors.Is.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("sluice: request has no URL")
	}
	if t.closed.Load() {
		closeBody(req)
		return nil, ErrClosed
	}
	host := requestHost(req)
	rt, err := t.routeFor(req, host)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	rt.stats.requests.Add(1)
	var info *requestInfo
	if _, ok := req.Context().Value(outcomeKey{}).(*Outcome); ok {
		info = &requestInfo{}
		req = req.WithContext(context.WithValue(req.Context(), infoKey{}, info))
	}
	op := t.obs.Load() // observe.go
	var start time.Time
	if op != nil {
		start = time.Now()
		req = op.startRequest(req, rt)
	}
	resp, err := t.serve(req, rt, host)
	t.count(req.Context(), rt, resp, err)
	if info != nil {
		recordOutcome(req.Context(), info, resp, err)
	}
	if op != nil {
		op.endRequest(req, rt, resp, err, time.Since(start))
	}
	return resp, err
}

// serve runs the cache and coalescing steps, then send.
func (t *Transport) serve(req *http.Request, rt *route, host string) (*http.Response, error) {
	ctx := req.Context()
	cacheable := t.cs != nil && rt.pol.cache.TTL > 0 && httpcache.Cacheable(req) && !httpcache.HasConditional(req)
	var l lookup
	if cacheable {
		l.base = t.cs.keyer.Key(req, rt.pol.cache.Vary, rt.pol.credentials)
		e, key := t.load(ctx, rt, req, l.base)
		l.key = key
		if e != nil {
			l.entry = e
			now := t.now()
			switch {
			case requestNoCache(req):
			case e.Fresh(now):
				rt.stats.cacheHits.Add(1)
				t.event(ctx, slog.LevelDebug, "cache_hit", rt, req)
				closeBody(req)
				return markCached(e.ResponseAt(req, now)), nil
			case e.StaleWhileRevalidate(now):
				rt.stats.staleRevalidate.Add(1)
				t.event(ctx, slog.LevelDebug, "cache_stale_revalidate", rt, req)
				t.revalidateInBackground(req, rt, host, l)
				return markCached(e.StaleResponseAt(req, now)), nil
			}
		}
		rt.stats.cacheMisses.Add(1)
		t.event(ctx, slog.LevelDebug, "cache_miss", rt, req)
	}
	send := func(ctx context.Context) (*http.Response, error) {
		r := req
		if ctx != req.Context() {
			r = req.WithContext(ctx)
		}
		if !cacheable {
			return t.send(r, rt, host)
		}
		return t.fetchShared(r, rt, host, l)
	}
	var resp *http.Response
	var err error
	if ckey := coalesceKey(req, &rt.pol); ckey != "" {
		var shared bool
		resp, shared, err = rt.group.Do(ctx, ckey, func(gctx context.Context) (*http.Response, error) {
			// The shared call keeps the first caller's values (priority)
			// but not its cancellation; it keeps its deadline, so limits
			// and retries still refuse waits that would pass it.
			dl, ok := ctx.Deadline()
			if !ok {
				return send(gctx)
			}
			gctx, cancel := context.WithDeadline(gctx, dl)
			resp, err := send(gctx)
			if err != nil {
				cancel()
				return nil, err
			}
			// The body is read after fn returns: cancel when it is closed.
			resp.Body = &releaseBody{ReadCloser: resp.Body, release: cancel}
			return resp, nil
		})
		if shared && err != nil && ctx.Err() == nil && byLeaderDeadline(err) {
			// The shared call failed for its first caller's deadline, not
			// for this caller's: make the call on this caller's context.
			resp, err, shared = nil, nil, false
			resp, err = send(ctx)
		}
		if resp != nil {
			resp.Request = req
		}
		if shared {
			rt.stats.coalesced.Add(1)
			t.event(ctx, slog.LevelDebug, "coalesced", rt, req)
		}
	} else {
		resp, err = send(ctx)
	}
	if cacheable && rt.pol.cache.StaleIfError > 0 && failed(resp, err) {
		if e, _ := t.load(ctx, rt, req, l.base); e != nil && e.ServableStale(t.now(), rt.pol.cache.StaleIfError) {
			if resp != nil {
				drainClose(resp)
			}
			rt.stats.cacheStale.Add(1)
			t.event(ctx, slog.LevelWarn, "cache_stale", rt, req, slog.Any("cause", errOrStatus(resp, err)))
			return markCached(e.StaleResponse(req)), nil
		}
	}
	return resp, err
}

// coalesceKey returns the key under which req may share one upstream call
// with identical concurrent requests, or "" when it must not share: the
// route does not coalesce, req is not a GET without a body, or it asks for a
// Range (partial responses differ by range). The key is the URL, the
// credentials (secret headers, query parameters, user info and the route's
// credential_headers, as a fingerprint) and every other request header
// except per-request trace and correlation ids, so that requests differing
// in Accept, a conditional header or an API-version header never share a
// response.
func coalesceKey(req *http.Request, pol *policy) string {
	if !pol.coalesce || req.Method != http.MethodGet || (req.Body != nil && req.Body != http.NoBody) {
		return ""
	}
	if _, ok := req.Header["Range"]; ok {
		return ""
	}
	vary := make([]string, 0, len(req.Header))
	for name := range req.Header {
		if !perRequestHeaders[http.CanonicalHeaderKey(name)] {
			vary = append(vary, name)
		}
	}
	return httpcache.KeyWithCredentials(req, vary, pol.credentials)
}

// perRequestHeaders are headers that differ between otherwise identical
// requests without changing the response: coalescing ignores them.
var perRequestHeaders = map[string]bool{
	"Traceparent": true, "Tracestate": true, "Baggage": true, "Sentry-Trace": true,
	"X-Request-Id": true, "X-Correlation-Id": true, "X-Amzn-Trace-Id": true, "X-B3-Traceid": true,
	"X-B3-Spanid": true, "X-B3-Parentspanid": true, "X-B3-Sampled": true, "X-Cloud-Trace-Context": true,
}

// byLeaderDeadline reports whether a shared call's error may come from the
// deadline of the caller that started it: the deadline passed, or a wait
// was refused or a retry given up because it would pass it.
func byLeaderDeadline(err error) bool {
	var re *RetryError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRateLimited) ||
		(errors.As(err, &re) && re.Reason == "deadline")
}

// failed reports whether an outcome should be replaced by a stale entry.
func failed(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	return resp.StatusCode >= 500
}

// errOrStatus describes an outcome for a log line: the error with every URL
// in it redacted (a base transport's *url.Error quotes the request's URL),
// or the status.
func errOrStatus(resp *http.Response, err error) string {
	if err != nil {
		return redact.Error(err).Error()
	}
	return resp.Status
}

// count records the outcome of one RoundTrip.
func (t *Transport) count(ctx context.Context, rt *route, resp *http.Response, err error) {
	if k := RequestOutcome(ctx, resp, err); k == OutcomeSuccess {
		rt.stats.successes.Add(1)
	} else {
		rt.stats.fail(k)
	}
}

// exhausted reports whether sluice retried resp's request and gave up on
// it (rather than not retrying it at all).
func exhausted(resp *http.Response) bool {
	switch resp.Header.Get(GaveUpHeader) {
	case "", "not idempotent", "body not replayable", "not retryable":
		return false
	}
	return true
}

// Stats returns a snapshot of the Transport's counters, per route.
func (t *Transport) Stats() Stats {
	var s Stats
	for _, r := range t.routes {
		s.Routes = append(s.Routes, r.snapshot())
	}
	t.unrouted.mu.Lock()
	extra := make([]*route, 0, len(t.unrouted.m))
	for _, r := range t.unrouted.m {
		extra = append(extra, r)
	}
	t.unrouted.mu.Unlock()
	sort.Slice(extra, func(i, j int) bool { return extra[i].name < extra[j].name })
	for _, r := range extra {
		s.Routes = append(s.Routes, r.snapshot())
	}
	s.Buckets = t.quota.Stats()
	return s
}

func (r *route) snapshot() RouteStats {
	s := r.stats.snapshot(r.name)
	if r.breaker != nil {
		s.Breaker = r.breaker.State().String()
	}
	return s
}

// Close makes further requests fail with ErrClosed, ends the waits of
// queued requests (rate limits, a provider's pause, quota, the concurrency
// cap, retry backoff) with ErrClosed, and closes the idle connections of the
// base transport. Nothing is sent after Close; requests already on the wire
// finish (and are not retried). Close starts no goroutine and leaves none
// behind: it cancels the background revalidations still running and
// waits for them.
func (t *Transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.closeNow() // requests waiting on limits, pauses or backoff end with ErrClosed
	if t.bg != nil {
		t.bg.close()
	}
	t.CloseIdleConnections()
	t.lb.close()
	if t.ownRedis != nil {
		return t.ownRedis.Close()
	}
	return nil
}

// CloseIdleConnections closes the idle connections of the base transport,
// so that http.Client.CloseIdleConnections reaches it.
func (t *Transport) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
