package sluiceprom

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
)

// recorder is the sluice.Observer that records what the Transport's Stats
// do not keep: attempts by status class, retries and refusals by reason,
// waits by gate, durations and requests in flight.
type recorder struct {
	label func(sluice.RouteInfo) string

	attempts, retries, refusals, pauses *prometheus.CounterVec
	wait, duration, attemptDuration     *prometheus.HistogramVec
	reqFlight, attFlight                *prometheus.GaugeVec

	routes sync.Map // label -> *perRoute
}

// perRoute holds the children of the recorder's vectors for one route
// label, so that the per-request path does no label hashing.
type perRoute struct {
	attempts          [6]prometheus.Counter // by statusClass
	reqFlight, flight prometheus.Gauge
	duration, adur    prometheus.Observer
	wait              map[string]prometheus.Observer // by gate
}

var statusClasses = [6]string{"error", "1xx", "2xx", "3xx", "4xx", "5xx"}

var gates = []string{sluice.WaitLimit, sluice.WaitProviderPause, sluice.WaitQuota, sluice.WaitConcurrency}

func newRecorder(o Options, label func(sluice.RouteInfo) string) *recorder {
	fq := func(name string) string { return prometheus.BuildFQName(o.Namespace, "", name) }
	r := &recorder{label: label}
	r.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: fq("attempts_total"), ConstLabels: o.ConstLabels,
		Help: "Attempts sent upstream, retries included, by route and status class (\"error\": no response)."}, []string{"route", "status_class"})
	r.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: fq("retries_total"), ConstLabels: o.ConstLabels,
		Help: "Retries scheduled, by route and the failed attempt's class (throttled, transient)."}, []string{"route", "reason"})
	r.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: fq("rate_refusals_total"), ConstLabels: o.ConstLabels,
		Help: "Requests refused because waiting for a limit would pass their deadline, by route and limit."}, []string{"route", "reason"})
	r.pauses = prometheus.NewCounterVec(prometheus.CounterOpts{Name: fq("provider_pauses_total"), ConstLabels: o.ConstLabels,
		Help: "Times a throttle paused the whole route (or extended its pause)."}, []string{"route"})
	r.wait = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: fq("wait_seconds"), ConstLabels: o.ConstLabels, Buckets: o.WaitBuckets,
		Help: "Time requests waited at a gate (limit, provider_pause, quota, concurrency); waits under 1ms are not observed."}, []string{"route", "reason"})
	r.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: fq("request_duration_seconds"), ConstLabels: o.ConstLabels, Buckets: o.DurationBuckets,
		Help: "Time from RoundTrip to its return, waits and retries included (response headers; the body is read after)."}, []string{"route"})
	r.attemptDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: fq("attempt_duration_seconds"), ConstLabels: o.ConstLabels, Buckets: o.DurationBuckets,
		Help: "Time one attempt took in the base transport, until its response headers."}, []string{"route"})
	r.reqFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq("requests_in_flight"), ConstLabels: o.ConstLabels,
		Help: "Requests inside RoundTrip now: waiting, being sent or backing off."}, []string{"route"})
	r.attFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq("attempts_in_flight"), ConstLabels: o.ConstLabels,
		Help: "Attempts sent and awaiting response headers now. requests_in_flight minus this is the queue."}, []string{"route"})
	return r
}

func (r *recorder) vecs() []prometheus.Collector {
	return []prometheus.Collector{r.attempts, r.retries, r.refusals, r.pauses, r.wait, r.duration, r.attemptDuration, r.reqFlight, r.attFlight}
}

func (r *recorder) describe(ch chan<- *prometheus.Desc) {
	for _, v := range r.vecs() {
		v.Describe(ch)
	}
}

func (r *recorder) collect(ch chan<- prometheus.Metric) {
	for _, v := range r.vecs() {
		v.Collect(ch)
	}
}

// route returns the children for ri, made on first use.
func (r *recorder) route(ri sluice.RouteInfo) *perRoute {
	name := r.label(ri)
	if p, ok := r.routes.Load(name); ok {
		return p.(*perRoute)
	}
	p := &perRoute{
		reqFlight: r.reqFlight.WithLabelValues(name),
		flight:    r.attFlight.WithLabelValues(name),
		duration:  r.duration.WithLabelValues(name),
		adur:      r.attemptDuration.WithLabelValues(name),
		wait:      map[string]prometheus.Observer{},
	}
	for i, c := range statusClasses {
		p.attempts[i] = r.attempts.WithLabelValues(name, c)
	}
	for _, g := range gates {
		p.wait[g] = r.wait.WithLabelValues(name, g)
	}
	got, _ := r.routes.LoadOrStore(name, p)
	return got.(*perRoute)
}

// StartRequest implements sluice.Observer.
func (r *recorder) StartRequest(req *http.Request, ri sluice.RouteInfo) *http.Request {
	r.route(ri).reqFlight.Inc()
	return req
}

// EndRequest implements sluice.Observer.
func (r *recorder) EndRequest(_ *http.Request, ri sluice.RouteInfo, _ *http.Response, _ error, d time.Duration) {
	p := r.route(ri)
	p.reqFlight.Dec()
	p.duration.Observe(d.Seconds())
}

// StartAttempt implements sluice.Observer.
func (r *recorder) StartAttempt(areq *http.Request, a sluice.AttemptInfo) *http.Request {
	r.route(a.RouteInfo).flight.Inc()
	return areq
}

// EndAttempt implements sluice.Observer.
func (r *recorder) EndAttempt(_ *http.Request, a sluice.AttemptInfo, resp *http.Response, err error, d time.Duration) {
	p := r.route(a.RouteInfo)
	p.flight.Dec()
	p.attempts[statusClass(resp, err)].Inc()
	p.adur.Observe(d.Seconds())
}

// Event implements sluice.Observer.
func (r *recorder) Event(_ context.Context, e sluice.Event) {
	switch e.Kind {
	case "rate_wait":
		if o, ok := r.route(e.Route).wait[e.Reason]; ok {
			o.Observe(e.Wait.Seconds())
		}
	case "retry_scheduled":
		r.retries.WithLabelValues(r.label(e.Route), e.Reason).Inc()
	case "rate_refused":
		r.refusals.WithLabelValues(r.label(e.Route), e.Reason).Inc()
	case "route_paused":
		r.pauses.WithLabelValues(r.label(e.Route)).Inc()
	}
}

// statusClass is the index in statusClasses of an attempt's outcome.
func statusClass(resp *http.Response, err error) int {
	if err != nil || resp == nil {
		return 0
	}
	if k := resp.StatusCode / 100; k >= 1 && k <= 5 {
		return k
	}
	return 0
}
