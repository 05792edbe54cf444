package sluice

import (
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/quota"
)

// Stats is a snapshot of what a Transport has done since it was made.
type Stats struct {
	// Routes has one entry per configured route, then one per host of the
	// requests that matched no route ("default:<host>").
	Routes []RouteStats
	// Buckets are the provider quotas the Transport learned from response
	// headers, per host and bucket: limit, remaining, reset, the pace it
	// holds requests to, pauses and throttles.
	Buckets []quota.BucketStats
}

// Route returns the stats of the named route and whether there is one.
func (s Stats) Route(name string) (RouteStats, bool) {
	for _, r := range s.Routes {
		if r.Name == name {
			return r, true
		}
	}
	return RouteStats{}, false
}

// MergedRoutes sums the routes that label maps to one name (an exporter
// folding every unrouted host's "default:<host>" into "default", say), in
// the order the names first appear. Counters and waits add up, Failures
// merge by kind, and Breaker is the state of the route whose own name is the
// merged one ("" when none is: the folded hosts each have their own
// breaker). A nil label keeps every route as it is.
func (s Stats) MergedRoutes(label func(name string) string) []RouteStats {
	var out []RouteStats
	at := map[string]int{}
	for _, r := range s.Routes {
		name := r.Name
		if label != nil {
			name = label(r.Name)
		}
		i, ok := at[name]
		if !ok {
			i = len(out)
			at[name] = i
			out = append(out, RouteStats{Name: name, Failures: map[string]int64{}})
		}
		m := &out[i]
		m.Requests += r.Requests
		m.Successes += r.Successes
		for k, n := range r.Failures {
			m.Failures[k] += n
		}
		m.Attempts += r.Attempts
		m.Retries += r.Retries
		m.Throttles += r.Throttles
		m.Waited += r.Waited
		m.CacheHits += r.CacheHits
		m.CacheMisses += r.CacheMisses
		m.CacheStale += r.CacheStale
		m.NotModified += r.NotModified
		m.StaleWhileRevalidate += r.StaleWhileRevalidate
		m.Coalesced += r.Coalesced
		m.CoalescedShared += r.CoalescedShared
		m.CacheStoreErrors += r.CacheStoreErrors
		m.RequestsSaved += r.RequestsSaved
		if r.Name == name {
			m.Breaker = r.Breaker
		}
	}
	return out
}

// RouteStats counts the requests of one route.
type RouteStats struct {
	// Name is the route's name.
	Name string
	// Requests is the number of requests the caller made (RoundTrip calls).
	Requests int64
	// Successes is the number of requests answered with a status below 400
	// (from the upstream or the cache).
	Successes int64
	// Failures counts the requests that ended in an error or a status of
	// 400 or more, by kind: "status_4xx", "status_5xx", "transport",
	// "rate_limited", "circuit_open", "retries_exhausted" (retries ended
	// on a response or error; the response is still returned), "canceled".
	Failures map[string]int64
	// Attempts is the number of requests sent upstream, retries included.
	Attempts int64
	// Retries is the number of attempts after the first.
	Retries int64
	// Throttles is the number of throttle responses (429, or another status
	// the provider uses for it) seen.
	Throttles int64
	// Waited is the total time requests spent waiting for rate limits and
	// provider pauses.
	Waited time.Duration
	// CacheHits, CacheMisses and CacheStale count cache lookups: fresh hits,
	// misses, and stale entries served because the upstream failed.
	CacheHits, CacheMisses, CacheStale int64
	// NotModified is the number of revalidations the upstream answered 304
	// Not Modified: the stored body was reused, and providers such as
	// GitHub do not charge the request against the rate limit.
	NotModified int64
	// StaleWhileRevalidate is the number of stale entries served at once
	// while a background request revalidated them (the response said
	// stale-while-revalidate).
	StaleWhileRevalidate int64
	// Coalesced is the number of requests answered by joining an identical
	// request already in flight.
	Coalesced int64
	// CoalescedShared is the number of requests answered from an entry
	// another process sharing the cache store (store redis) fetched or
	// revalidated while this one waited for its lock.
	CoalescedShared int64
	// CacheStoreErrors is the number of failed calls to the cache store
	// (a Redis error or timeout). Each was treated as a miss, or the
	// entry went unstored: a failing store never fails a request.
	CacheStoreErrors int64
	// RequestsSaved is the number of requests answered without an upstream
	// request of their own: CacheHits plus Coalesced plus CoalescedShared.
	RequestsSaved int64
	// Breaker is the state of the route's circuit breaker ("closed",
	// "open", "half-open"; "" when it has none or one per host).
	Breaker string
}

// failure kinds, the keys of RouteStats.Failures.
const (
	failStatus4xx   = "status_4xx"
	failStatus5xx   = "status_5xx"
	failTransport   = "transport"
	failRateLimited = "rate_limited"
	failCircuitOpen = "circuit_open"
	failExhausted   = "retries_exhausted"
	failCanceled    = "canceled"
)

var failKinds = [...]string{failStatus4xx, failStatus5xx, failTransport, failRateLimited, failCircuitOpen, failExhausted, failCanceled}

// counters are a route's live counters, updated without locks.
type counters struct {
	requests, successes, attempts, retries, throttles atomic.Int64
	waitedNs                                          atomic.Int64
	cacheHits, cacheMisses, cacheStale, coalesced     atomic.Int64
	notModified, staleRevalidate                      atomic.Int64
	coalescedShared, storeErrors                      atomic.Int64
	failures                                          [len(failKinds)]atomic.Int64
}

func (c *counters) fail(kind string) {
	for i, k := range failKinds {
		if k == kind {
			c.failures[i].Add(1)
			return
		}
	}
}

func (c *counters) snapshot(name string) RouteStats {
	s := RouteStats{
		Name:        name,
		Requests:    c.requests.Load(),
		Successes:   c.successes.Load(),
		Attempts:    c.attempts.Load(),
		Retries:     c.retries.Load(),
		Throttles:   c.throttles.Load(),
		Waited:      time.Duration(c.waitedNs.Load()),
		CacheHits:   c.cacheHits.Load(),
		CacheMisses: c.cacheMisses.Load(),
		CacheStale:  c.cacheStale.Load(),
		Coalesced:   c.coalesced.Load(),
		Failures:    map[string]int64{},

		NotModified:          c.notModified.Load(),
		StaleWhileRevalidate: c.staleRevalidate.Load(),
		CoalescedShared:      c.coalescedShared.Load(),
		CacheStoreErrors:     c.storeErrors.Load(),
	}
	s.RequestsSaved = s.CacheHits + s.Coalesced + s.CoalescedShared
	for i, k := range failKinds {
		if n := c.failures[i].Load(); n > 0 {
			s.Failures[k] = n
		}
	}
	return s
}
