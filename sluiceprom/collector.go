package sluiceprom

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
)

// Options configure a Collector. The zero Options are the defaults.
type Options struct {
	// Namespace prefixes every metric name. Empty means "sluice".
	Namespace string
	// ConstLabels are added to every metric (e.g. {"service": "billing"}).
	ConstLabels prometheus.Labels
	// WaitBuckets are the upper bounds, in seconds, of the buckets of
	// sluice_wait_seconds. Nil means DefaultWaitBuckets.
	WaitBuckets []float64
	// DurationBuckets are the upper bounds, in seconds, of the buckets of
	// sluice_request_duration_seconds and sluice_attempt_duration_seconds.
	// Nil means prometheus.DefBuckets.
	DurationBuckets []float64
	// PerHostDefaults labels the requests that matched no route
	// "default:<host>", one series per host ever seen, instead of one
	// "default" series. Leave it off unless the hosts are a small known
	// set: the series are never dropped.
	PerHostDefaults bool
}

// DefaultWaitBuckets are the buckets of sluice_wait_seconds: from a
// millisecond (the smallest wait reported) to five minutes.
var DefaultWaitBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// Collector is a prometheus.Collector over one sluice.Transport. Counters
// kept by the Transport (requests, throttles, cache, quota, breaker,
// Redis) are read at each scrape; histograms and attempt counts are
// recorded as requests run, through the sluice.Observer the Collector adds
// to the Transport. Register it once.
type Collector struct {
	t         *sluice.Transport
	perHost   bool
	rec       *recorder
	snapshots []*prometheus.Desc // the Stats-derived descriptors, for Describe

	requests, throttles, cache, coalesced              *prometheus.Desc
	circuit                                            *prometheus.Desc
	quotaLimit, quotaRemaining, quotaReset, quotaPace  *prometheus.Desc
	quotaPaused, quotaThrottles                        *prometheus.Desc
	redisCalls, redisErrors, redisFallbacks, redisDown *prometheus.Desc
}

// New returns a Collector over t with the default Options and adds its
// observer to t. Register it: prometheus.MustRegister(sluiceprom.New(t)).
func New(t *sluice.Transport) *Collector {
	c, err := NewWithOptions(t, Options{})
	if err != nil {
		panic(err) // unreachable: the default Options are valid
	}
	return c
}

// NewWithOptions is New with Options. It fails when t is nil or a bucket
// list is not increasing.
func NewWithOptions(t *sluice.Transport, o Options) (*Collector, error) {
	if t == nil {
		return nil, errors.New("sluiceprom: nil Transport")
	}
	if o.Namespace == "" {
		o.Namespace = "sluice"
	}
	if o.WaitBuckets == nil {
		o.WaitBuckets = DefaultWaitBuckets
	}
	if o.DurationBuckets == nil {
		o.DurationBuckets = prometheus.DefBuckets
	}
	for name, b := range map[string][]float64{"WaitBuckets": o.WaitBuckets, "DurationBuckets": o.DurationBuckets} {
		if len(b) == 0 || !slices.IsSorted(b) || len(slices.Compact(slices.Clone(b))) != len(b) {
			return nil, fmt.Errorf("sluiceprom: Options.%s %v: want upper bounds in increasing order, such as [0.01 0.1 1]", name, b)
		}
	}
	c := &Collector{t: t, perHost: o.PerHostDefaults}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		desc := prometheus.NewDesc(prometheus.BuildFQName(o.Namespace, "", name), help, labels, o.ConstLabels)
		c.snapshots = append(c.snapshots, desc)
		return desc
	}
	c.requests = d("requests_total", "Requests made through the Transport (RoundTrip calls that returned), by route and outcome.", "route", "outcome")
	c.throttles = d("throttles_total", "Throttle responses (429, or the provider's own throttle status) received.", "route")
	c.cache = d("cache_requests_total", "Cache lookups by result: hit (fresh entry), miss, stale (stale entry served because the upstream failed), revalidated (304: stored body reused), stale_while_revalidate (stale entry served while refreshed in the background), coalesced_shared (entry another process sharing the store fetched while this one waited), store_error (the cache store failed; treated as a miss).", "route", "result")
	c.coalesced = d("coalesced_requests_total", "Requests answered by joining an identical request in flight.", "route")
	c.circuit = d("circuit_state", "State of the route's circuit breaker: 1 for the current state, 0 for the others.", "route", "state")
	c.quotaLimit = d("quota_limit", "Capacity of a provider quota bucket learned from response headers, in its unit.", "host", "bucket", "unit")
	c.quotaRemaining = d("quota_remaining", "Estimated units left in a provider quota bucket now.", "host", "bucket", "unit")
	c.quotaReset = d("quota_reset_timestamp_seconds", "When the provider quota bucket is next full or its window restarts, as a Unix time.", "host", "bucket", "unit")
	c.quotaPace = d("quota_pace", "Rate the Transport holds requests to for this bucket, in units per second (0: not pacing).", "host", "bucket", "unit")
	c.quotaPaused = d("quota_paused", "1 while a throttle has paused the bucket, else 0.", "host", "bucket", "unit")
	c.quotaThrottles = d("quota_throttles_total", "Throttles attributed to the bucket.", "host", "bucket", "unit")
	c.redisCalls = d("redis_calls_total", "Redis script calls made by the route's shared limits.", "route")
	c.redisErrors = d("redis_errors_total", "Redis calls that failed or timed out.", "route")
	c.redisFallbacks = d("redis_fallbacks_total", "Limit decisions made by the Redis failure policy instead of Redis.", "route")
	c.redisDown = d("redis_down", "1 while the Redis failure policy is engaged for the route, else 0.", "route")
	c.rec = newRecorder(o, c.label)
	t.AddObserver(c.rec)
	return c, nil
}

// label is the route label of r.
func (c *Collector) label(r sluice.RouteInfo) string {
	if r.Unrouted && !c.perHost {
		return "default"
	}
	return r.Name
}

// routeLabel is label for a route known only by name (from Stats).
func (c *Collector) routeLabel(name string) string {
	if !c.perHost && strings.HasPrefix(name, "default:") {
		return "default"
	}
	return name
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.snapshots {
		ch <- d
	}
	c.rec.describe(ch)
}

// outcomes are the values of the outcome label, in order.
var outcomes = []string{"success", "status_4xx", "status_5xx", "transport", "rate_limited", "circuit_open", "retries_exhausted", "canceled"}

var breakerStates = []string{"closed", "half-open", "open"}

// outcomeCount is r's count for outcome label o: its successes, or its
// failures of that kind.
func outcomeCount(r sluice.RouteStats, o string) int64 {
	if o == "success" {
		return r.Successes
	}
	return r.Failures[o]
}

// routeTotals sums the Stats of the routes that share a label.
// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.t.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, r := range st.MergedRoutes(c.routeLabel) {
		name := r.Name
		for _, o := range outcomes {
			counter(c.requests, outcomeCount(r, o), name, o)
		}
		counter(c.throttles, r.Throttles, name)
		counter(c.cache, r.CacheHits, name, "hit")
		counter(c.cache, r.CacheMisses, name, "miss")
		counter(c.cache, r.CacheStale, name, "stale")
		counter(c.cache, r.NotModified, name, "revalidated")
		counter(c.cache, r.StaleWhileRevalidate, name, "stale_while_revalidate")
		counter(c.cache, r.CoalescedShared, name, "coalesced_shared")
		counter(c.cache, r.CacheStoreErrors, name, "store_error")
		counter(c.coalesced, r.Coalesced, name)
		if r.Breaker != "" {
			for _, s := range breakerStates {
				gauge(c.circuit, b2f(s == r.Breaker), name, s)
			}
		}
	}
	now := time.Now()
	for _, b := range st.Buckets {
		l := []string{b.Host, b.Bucket, string(b.Unit)}
		if b.Limit >= 0 {
			gauge(c.quotaLimit, b.Limit, l...)
		}
		if b.Remaining >= 0 {
			gauge(c.quotaRemaining, float64(b.Remaining), l...)
		}
		if !b.Reset.IsZero() {
			gauge(c.quotaReset, float64(b.Reset.UnixNano())/1e9, l...)
		}
		gauge(c.quotaPace, b.Pace, l...)
		gauge(c.quotaPaused, b2f(b.PausedUntil.After(now)), l...)
		counter(c.quotaThrottles, b.Throttles, l...)
	}
	for _, r := range c.t.RedisStats() {
		counter(c.redisCalls, r.Calls, r.Route)
		counter(c.redisErrors, r.Errors, r.Route)
		counter(c.redisFallbacks, r.Fallbacks, r.Route)
		gauge(c.redisDown, b2f(r.Down), r.Route)
	}
	c.rec.collect(ch)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
