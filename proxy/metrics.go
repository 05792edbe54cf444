package proxy

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
)

// The admin listener's /metrics, in the Prometheus text exposition format
// (version 0.0.4), written here rather than with the Prometheus client so
// that the sluice module, which holds this package and cmd/sluice, does
// not depend on it (docs/metrics.md, "sluice proxy", measures what that
// would cost). The pipeline's families carry the names, labels and
// meanings of the sluiceprom exporter's, so its queries and dashboard read
// the proxy too; sluiceprom's tests parse this output with Prometheus' own
// parser and compare it with the exporter's.

// meter counts what Stats does not keep: requests and attempts in flight
// per route (their difference is the route's queue), attempts by status
// class, and answers and queue waits per consumer. Its maps are built
// once, in New, from the configuration, so the per-request path only does
// atomic adds.
type meter struct {
	routes    map[string]*routeMeter    // route label -> counts; read-only after newMeter
	consumers map[string]*consumerMeter // consumer -> counts; read-only after newMeter
	names     []string                  // route labels, in order
	cnames    []string                  // consumers, in order
}

// consumerMeter is one consumer's counts.
type consumerMeter struct {
	answers [6]atomic.Int64 // answers by statusClasses index
	// waits counts requests by the first of waitBuckets that holds their
	// wait (the last element: over every bound); not cumulative, so that
	// an observation is one add.
	waits  [len(waitBuckets) + 1]atomic.Int64
	waitNs atomic.Int64 // sum of the waits
}

// waitBuckets are the buckets of sluice_proxy_consumer_wait_seconds, by
// upper bound: from "not held" (1 ms) to a long queue (30 s, the default
// proxy.max_wait).
var waitBuckets = [...]struct {
	le    string // the bound in seconds, as the le label spells it
	bound time.Duration
}{
	{"0.001", time.Millisecond}, {"0.01", 10 * time.Millisecond}, {"0.1", 100 * time.Millisecond},
	{"0.5", 500 * time.Millisecond}, {"1", time.Second}, {"5", 5 * time.Second}, {"30", 30 * time.Second},
}

// routeMeter is one route's live counts.
type routeMeter struct {
	requests, attempts atomic.Int64    // in flight
	byClass            [6]atomic.Int64 // attempts ended, by statusClasses index
	seen               atomic.Bool     // a request has started on the route
}

// statusClasses are the values of the status_class label: index 0 is an
// attempt (or answer) with no status.
var statusClasses = [6]string{"error", "1xx", "2xx", "3xx", "4xx", "5xx"}

// defaultRoute is the route label of requests that matched no route.
const defaultRoute = "default"

func newMeter(c Config) *meter {
	m := &meter{routes: map[string]*routeMeter{}, consumers: map[string]*consumerMeter{}}
	for _, r := range c.Pipeline.Routes {
		if _, dup := m.routes[r.Name]; !dup {
			m.routes[r.Name] = &routeMeter{}
			m.names = append(m.names, r.Name)
		}
	}
	m.routes[defaultRoute] = &routeMeter{}
	m.names = append(m.names, defaultRoute)
	for _, cs := range c.Consumers {
		m.consumers[cs.Name] = &consumerMeter{}
		m.cnames = append(m.cnames, cs.Name)
	}
	if c.AllowAnonymous {
		m.consumers["anonymous"] = &consumerMeter{}
		m.cnames = append(m.cnames, "anonymous")
	}
	return m
}

// live lists the route labels to report: every configured route, and
// "default" once a request matched no route (as sluiceprom, which makes a
// route's series on its first request).
func (m *meter) live() []string {
	if m.routes[defaultRoute].seen.Load() {
		return m.names
	}
	return m.names[:len(m.names)-1]
}

func (m *meter) route(ri sluice.RouteInfo) *routeMeter {
	if ri.Unrouted {
		return m.routes[defaultRoute]
	}
	return m.routes[ri.Name] // nil only for a route not in the Config
}

// answered counts the answer the proxy gave an authenticated consumer.
func (m *meter) answered(consumer string, status int) {
	if c := m.consumers[consumer]; c != nil {
		c.answers[classOf(status)].Add(1)
	}
}

// waited records the time one request of consumer waited for its turn,
// once the pipeline returned it.
func (m *meter) waited(consumer string, st *reqState) {
	c := m.consumers[consumer]
	if c == nil {
		return
	}
	d := time.Duration(st.waitedNs.Load())
	i := 0
	for i < len(waitBuckets) && d > waitBuckets[i].bound {
		i++
	}
	c.waits[i].Add(1)
	c.waitNs.Add(int64(d))
}

func classOf(status int) int {
	if k := status / 100; k >= 1 && k <= 5 {
		return k
	}
	return 0
}

// StartRequest implements sluice.Observer.
func (m *meter) StartRequest(req *http.Request, ri sluice.RouteInfo) *http.Request {
	if r := m.route(ri); r != nil {
		r.requests.Add(1)
		if !r.seen.Load() {
			r.seen.Store(true)
		}
	}
	return req
}

// EndRequest implements sluice.Observer.
func (m *meter) EndRequest(_ *http.Request, ri sluice.RouteInfo, _ *http.Response, _ error, _ time.Duration) {
	if r := m.route(ri); r != nil {
		r.requests.Add(-1)
	}
}

// StartAttempt implements sluice.Observer.
func (m *meter) StartAttempt(areq *http.Request, a sluice.AttemptInfo) *http.Request {
	if r := m.route(a.RouteInfo); r != nil {
		r.attempts.Add(1)
	}
	return areq
}

// EndAttempt implements sluice.Observer.
func (m *meter) EndAttempt(_ *http.Request, a sluice.AttemptInfo, resp *http.Response, err error, _ time.Duration) {
	if r := m.route(a.RouteInfo); r != nil {
		r.attempts.Add(-1)
		k := 0
		if err == nil && resp != nil {
			k = classOf(resp.StatusCode)
		}
		r.byClass[k].Add(1)
	}
}

// Event implements sluice.Observer: a rate_wait (one per gate a request
// waited at, a millisecond or more) adds to the request's wait, which
// send hands to waited when the pipeline returns. A request that joined
// another in flight (coalesced) waits inside the other's call, whose
// context carries the other's state: its own wait reads 0.
func (m *meter) Event(ctx context.Context, e sluice.Event) {
	if e.Kind != "rate_wait" {
		return
	}
	if s, ok := ctx.Value(stateKey{}).(*reqState); ok {
		s.waitedNs.Add(int64(e.Wait))
	}
}

// expo writes the Prometheus text exposition format.
type expo struct{ b strings.Builder }

// family starts a metric family: its HELP and TYPE lines.
func (e *expo) family(name, typ, help string) {
	e.b.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n# TYPE " + name + " " + typ + "\n")
}

// sample writes one sample; labels are name, value pairs.
func (e *expo) sample(name string, v float64, labels ...string) {
	e.b.WriteString(name)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			e.b.WriteByte('{')
		} else {
			e.b.WriteByte(',')
		}
		e.b.WriteString(labels[i] + `="` + escapeLabel(labels[i+1]) + `"`)
	}
	if len(labels) > 1 {
		e.b.WriteByte('}')
	}
	e.b.WriteString(" " + formatValue(v) + "\n")
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// formatValue spells a sample value as the format wants: NaN, +Inf, -Inf
// or the shortest decimal that reads back as v.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// outcomes are the values of sluice_requests_total's outcome label, as
// sluiceprom reports them.
var outcomes = []string{"success", "status_4xx", "status_5xx", "transport", "rate_limited", "circuit_open", "retries_exhausted", "canceled"}

var breakerStates = []string{"closed", "half-open", "open"}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// routeLabel folds every unrouted host's "default:<host>" into "default",
// as sluiceprom does by default.
func routeLabel(name string) string {
	if strings.HasPrefix(name, defaultRoute+":") {
		return defaultRoute
	}
	return name
}

// outcomeCount is r's count for outcome label o: its successes, or its
// failures of that kind.
func outcomeCount(r sluice.RouteStats, o string) int64 {
	if o == "success" {
		return r.Successes
	}
	return r.Failures[o]
}

// writeMetrics renders every family.
func (h *Handler) writeMetrics(e *expo) {
	ps := h.Stats()
	st := h.tr.Stats()
	m := h.met
	live := m.live()
	e.family("sluice_proxy_requests_total", "counter", "Requests the proxy received, by mode (base, forward, connect).")
	for _, k := range sortedKeys(ps.Requests) {
		e.sample("sluice_proxy_requests_total", float64(ps.Requests[k]), "mode", k)
	}
	e.family("sluice_proxy_refused_total", "counter", "Requests the proxy answered itself, by reason (unauthenticated, destination_refused, rate_limited, ...).")
	for _, k := range sortedKeys(ps.Refused) {
		e.sample("sluice_proxy_refused_total", float64(ps.Refused[k]), "reason", k)
	}
	e.family("sluice_proxy_consumer_requests_total", "counter", "Answers the proxy gave each authenticated consumer, by status class (a client that went away counts as 4xx: 499).")
	for _, c := range m.cnames {
		for k, cls := range statusClasses {
			e.sample("sluice_proxy_consumer_requests_total", float64(m.consumers[c].answers[k].Load()), "consumer", c, "status_class", cls)
		}
	}
	m.writeWaits(e)
	e.family("sluice_proxy_tunnels_open", "gauge", "CONNECT tunnels open.")
	e.sample("sluice_proxy_tunnels_open", float64(ps.TunnelsOpen))
	e.family("sluice_proxy_waiting", "gauge", "Requests waiting for their turn, all routes: not yet sent upstream.")
	e.sample("sluice_proxy_waiting", float64(h.waiting()))
	e.family("sluice_proxy_queue_depth", "gauge", "Requests held by the route now: in flight and not being sent (waiting for a limit, or backing off before a retry).")
	for _, name := range live {
		r := m.routes[name]
		e.sample("sluice_proxy_queue_depth", float64(max(0, r.requests.Load()-r.attempts.Load())), "route", name)
	}
	e.family("sluice_proxy_limit_per_second", "gauge", "The route's configured rate limit (its first limit), in requests per second. Absent for routes without one.")
	for _, name := range live {
		if li, ok := h.limits[name]; ok {
			e.sample("sluice_proxy_limit_per_second", float64(li.quota)/li.window.Seconds(), "route", name)
		}
	}

	sums := st.MergedRoutes(routeLabel)
	e.family("sluice_requests_total", "counter", "Requests made through the pipeline (RoundTrip calls that returned), by route and outcome.")
	for _, r := range sums {
		for _, o := range outcomes {
			e.sample("sluice_requests_total", float64(outcomeCount(r, o)), "route", r.Name, "outcome", o)
		}
	}
	e.family("sluice_attempts_total", "counter", "Attempts sent upstream, retries included, by route and status class (\"error\": no response).")
	for _, name := range live {
		for k, cls := range statusClasses {
			e.sample("sluice_attempts_total", float64(m.routes[name].byClass[k].Load()), "route", name, "status_class", cls)
		}
	}
	e.family("sluice_throttles_total", "counter", "Throttle responses (429, or the provider's own throttle status) received.")
	for _, r := range sums {
		e.sample("sluice_throttles_total", float64(r.Throttles), "route", r.Name)
	}
	e.family("sluice_requests_in_flight", "gauge", "Requests inside the pipeline now: waiting, being sent or backing off.")
	for _, name := range live {
		e.sample("sluice_requests_in_flight", float64(m.routes[name].requests.Load()), "route", name)
	}
	e.family("sluice_attempts_in_flight", "gauge", "Attempts sent and awaiting response headers now. requests_in_flight minus this is the queue.")
	for _, name := range live {
		e.sample("sluice_attempts_in_flight", float64(m.routes[name].attempts.Load()), "route", name)
	}
	e.family("sluice_proxy_waited_seconds_total", "counter", "Time requests spent waiting at the route's gates (limits, provider pauses, learned quota, concurrency cap).")
	for _, r := range sums {
		e.sample("sluice_proxy_waited_seconds_total", r.Waited.Seconds(), "route", r.Name)
	}
	e.family("sluice_cache_requests_total", "counter", "Cache lookups by result: hit, miss, stale, revalidated, stale_while_revalidate, coalesced_shared, store_error.")
	for _, r := range sums {
		for _, c := range []struct {
			result string
			n      int64
		}{{"hit", r.CacheHits}, {"miss", r.CacheMisses}, {"stale", r.CacheStale}, {"revalidated", r.NotModified},
			{"stale_while_revalidate", r.StaleWhileRevalidate}, {"coalesced_shared", r.CoalescedShared}, {"store_error", r.CacheStoreErrors}} {
			e.sample("sluice_cache_requests_total", float64(c.n), "route", r.Name, "result", c.result)
		}
	}
	e.family("sluice_coalesced_requests_total", "counter", "Requests answered by joining an identical request in flight.")
	for _, r := range sums {
		e.sample("sluice_coalesced_requests_total", float64(r.Coalesced), "route", r.Name)
	}
	e.family("sluice_circuit_state", "gauge", "State of the route's circuit breaker: 1 for the current state, 0 for the others.")
	for _, r := range sums {
		if r.Breaker != "" {
			for _, bs := range breakerStates {
				e.sample("sluice_circuit_state", b2f(bs == r.Breaker), "route", r.Name, "state", bs)
			}
		}
	}
	h.writeQuota(e, st)
	h.writeRedis(e)
}

// writeWaits renders sluice_proxy_consumer_wait_seconds. Each bucket is
// read once and summed on the way, so the +Inf bucket and _count agree
// even while requests are observed; _sum may run a request ahead.
func (m *meter) writeWaits(e *expo) {
	const name = "sluice_proxy_consumer_wait_seconds"
	e.family(name, "histogram", "Time each request of an authenticated consumer waited for its turn at the route's gates (limits, provider pauses, learned quota, concurrency cap; retry backoff not included), one observation per request the pipeline returned, refused ones included.")
	for _, c := range m.cnames {
		cm := m.consumers[c]
		var n int64
		for i, b := range waitBuckets {
			n += cm.waits[i].Load()
			e.sample(name+"_bucket", float64(n), "consumer", c, "le", b.le)
		}
		n += cm.waits[len(waitBuckets)].Load()
		e.sample(name+"_bucket", float64(n), "consumer", c, "le", "+Inf")
		e.sample(name+"_sum", time.Duration(cm.waitNs.Load()).Seconds(), "consumer", c)
		e.sample(name+"_count", float64(n), "consumer", c)
	}
}

// writeQuota renders the quota learned from the providers' headers.
func (h *Handler) writeQuota(e *expo, st sluice.Stats) {
	now := time.Now()
	type fam struct {
		name, typ, help string
		value           func(b int) (float64, bool)
	}
	bs := st.Buckets
	fams := []fam{
		{"sluice_quota_limit", "gauge", "Capacity of a provider quota bucket learned from response headers, in its unit.",
			func(i int) (float64, bool) { return bs[i].Limit, bs[i].Limit >= 0 }},
		{"sluice_quota_remaining", "gauge", "Estimated units left in a provider quota bucket now.",
			func(i int) (float64, bool) { return float64(bs[i].Remaining), bs[i].Remaining >= 0 }},
		{"sluice_quota_reset_timestamp_seconds", "gauge", "When the provider quota bucket is next full or its window restarts, as a Unix time.",
			func(i int) (float64, bool) { return float64(bs[i].Reset.UnixNano()) / 1e9, !bs[i].Reset.IsZero() }},
		{"sluice_quota_pace", "gauge", "Rate the pipeline holds requests to for this bucket, in units per second (0: not pacing).",
			func(i int) (float64, bool) { return bs[i].Pace, true }},
		{"sluice_quota_paused", "gauge", "1 while a throttle has paused the bucket, else 0.",
			func(i int) (float64, bool) { return b2f(bs[i].PausedUntil.After(now)), true }},
		{"sluice_quota_throttles_total", "counter", "Throttles attributed to the bucket.",
			func(i int) (float64, bool) { return float64(bs[i].Throttles), true }},
	}
	for _, f := range fams {
		e.family(f.name, f.typ, f.help)
		for i, b := range bs {
			if v, ok := f.value(i); ok {
				e.sample(f.name, v, "host", b.Host, "bucket", b.Bucket, "unit", string(b.Unit))
			}
		}
	}
}

// writeRedis renders the Redis-shared limits' health, per route.
func (h *Handler) writeRedis(e *expo) {
	rs := h.tr.RedisStats()
	if len(rs) == 0 {
		return
	}
	e.family("sluice_redis_calls_total", "counter", "Redis script calls made by the route's shared limits.")
	for _, r := range rs {
		e.sample("sluice_redis_calls_total", float64(r.Calls), "route", r.Route)
	}
	e.family("sluice_redis_errors_total", "counter", "Redis calls that failed or timed out.")
	for _, r := range rs {
		e.sample("sluice_redis_errors_total", float64(r.Errors), "route", r.Route)
	}
	e.family("sluice_redis_fallbacks_total", "counter", "Limit decisions made by the Redis failure policy instead of Redis.")
	for _, r := range rs {
		e.sample("sluice_redis_fallbacks_total", float64(r.Fallbacks), "route", r.Route)
	}
	e.family("sluice_redis_down", "gauge", "1 while the Redis failure policy is engaged for the route, else 0.")
	for _, r := range rs {
		e.sample("sluice_redis_down", b2f(r.Down), "route", r.Route)
	}
}

// metrics serves /metrics.
func (h *Handler) metrics(w http.ResponseWriter, _ *http.Request) {
	var e expo
	h.writeMetrics(&e)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(e.b.String()))
}
