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
	cache    *httpcache.Cache // nil when no route caches
	bg       *background      // stale-while-revalidate refreshes; nil when no route caches
	quota    *quota.Tracker
	lb       *limitBuilder
	ownRedis io.Closer // the Redis client the Transport made, or nil
	closed   atomic.Bool
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
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	q := cfg.Quota
	burst := 1.0 // a job that fits in the remaining quota runs at full speed
	if q.BurstFraction != nil {
		burst = *q.BurstFraction
	}
	tracker, err := quota.NewTracker(quota.TrackerOptions{
		Logger:        t.log,
		MaxBuckets:    q.MaxBuckets,
		BurstFraction: burst,
		Adaptive: quota.AdaptiveOptions{
			Disabled:    q.Adaptive.Disabled,
			InitialRate: q.Adaptive.InitialRate,
			MinRate:     q.Adaptive.MinRate,
			MaxRate:     q.Adaptive.MaxRate,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sluice: quota: %w", err)
	}
	t.quota = tracker
	if t.lb, t.ownRedis, err = newLimitBuilder(cfg.Redis, t.log); err != nil {
		return nil, err
	}
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
		c, err := httpcache.New(httpcache.Options{MaxEntries: cfg.Cache.MaxEntries, MaxBytes: cfg.Cache.MaxBytes})
		if err != nil {
			return nil, fmt.Errorf("sluice: cache: %w", err)
		}
		t.cache = c
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
		recordOutcome(req.Context(), info, resp)
	}
	if op != nil {
		op.endRequest(req, rt, resp, err, time.Since(start))
	}
	return resp, err
}

// serve runs the cache and coalescing steps, then send.
func (t *Transport) serve(req *http.Request, rt *route, host string) (*http.Response, error) {
	ctx := req.Context()
	cacheable := t.cache != nil && rt.pol.cache.TTL > 0 && httpcache.Cacheable(req) && !httpcache.HasConditional(req)
	var l lookup
	if cacheable {
		l.base = httpcache.Key(req, rt.pol.cache.Vary)
		e, key, ok := t.cache.Lookup(l.base, req)
		l.key = key
		if ok {
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
		return t.fetch(r, rt, host, l)
	}
	var resp *http.Response
	var err error
	if rt.pol.coalesce && req.Method == http.MethodGet && (req.Body == nil || req.Body == http.NoBody) {
		key := l.coalesceKey(req)
		if !cacheable {
			key = httpcache.VariantKey(httpcache.Key(req, nil), req, negotiated)
		}
		var shared bool
		resp, shared, err = rt.group.Do(ctx, key, func(gctx context.Context) (*http.Response, error) {
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
		if e, ok := t.cache.GetStale(l.key, rt.pol.cache.StaleIfError); ok {
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

// failed reports whether an outcome should be replaced by a stale entry.
func failed(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	return resp.StatusCode >= 500
}

func errOrStatus(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
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

// Close makes further requests fail with ErrClosed and closes the idle
// connections of the base transport. Requests in flight finish. Close
// starts no goroutine and leaves none behind: it cancels the background
// revalidations still running and waits for them.
func (t *Transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
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
