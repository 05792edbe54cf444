package sluiceotel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/redact"
)

// ScopeName is the instrumentation scope of the spans and meters.
const ScopeName = "github.com/sluicehq/sluice/sluiceotel"

// Options configure Instrument. The zero Options use the global providers
// and propagator.
type Options struct {
	// TracerProvider makes the spans. Nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meters. Nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator injects the trace context into each attempt's headers.
	// Nil means otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator
	// BaseInstrumented says the Transport's base transport is already
	// instrumented per attempt (otelhttp.NewTransport): sluiceotel then
	// makes no attempt spans, injects no trace context and records no
	// http.client.request.duration, leaving those to it. See the package
	// doc.
	BaseInstrumented bool
	// PerHostDefaults labels requests that matched no route with their
	// route name "default:<host>" instead of "default".
	PerHostDefaults bool
}

// Instrumentation is a Transport's OpenTelemetry instrumentation, made by
// Instrument.
type Instrumentation struct {
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	base    bool
	perHost bool
	reg     metric.Registration

	routes sync.Map     // route label -> *routeAttrs
	points sync.Map     // pointKey -> []metric.RecordOption, for http.client.request.duration
	npoint atomic.Int64 // entries in points
	starts sync.Map     // startKey -> []trace.SpanStartOption, for request spans
	nstart atomic.Int64 // entries in starts
	ends   sync.Map     // endKey -> []attribute.KeyValue, set on a span's end

	attemptDur, reqDur, waitDur                     metric.Float64Histogram
	requests, retries, throttles, refusals, lookups metric.Int64Counter
}

// Instrument adds tracing and metrics to t, from now on. Close removes the
// observable gauges' callback (the spans and meters stop only with t).
func Instrument(t *sluice.Transport, o Options) (*Instrumentation, error) {
	if t == nil {
		return nil, errors.New("sluiceotel: nil Transport")
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	if o.MeterProvider == nil {
		o.MeterProvider = otel.GetMeterProvider()
	}
	if o.Propagator == nil {
		o.Propagator = otel.GetTextMapPropagator()
	}
	in := &Instrumentation{
		tracer:  o.TracerProvider.Tracer(ScopeName),
		prop:    o.Propagator,
		base:    o.BaseInstrumented,
		perHost: o.PerHostDefaults,
	}
	m := o.MeterProvider.Meter(ScopeName)
	var errs []error
	hist := func(name, desc string, bounds ...float64) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(bounds...))
		errs = append(errs, err)
		return h
	}
	count := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	durations := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	in.attemptDur = hist("http.client.request.duration", "Duration of HTTP client requests (one per attempt).", durations...)
	in.reqDur = hist("sluice.request.duration", "Duration of a logical request through sluice, waits and retries included.", durations...)
	in.waitDur = hist("sluice.wait.duration", "Time a request waited at a gate (sluice.wait.reason).",
		0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
	in.requests = count("sluice.requests", "{request}", "Requests made through sluice, by route and outcome.")
	in.retries = count("sluice.retries", "{retry}", "Retries scheduled, by route and the failed attempt's class.")
	in.throttles = count("sluice.throttles", "{response}", "Throttle responses received.")
	in.refusals = count("sluice.rate_refusals", "{request}", "Requests refused because a wait would pass their deadline.")
	in.lookups = count("sluice.cache.lookups", "{lookup}", "Cache lookups by result (hit, miss, stale, coalesced, revalidated, stale_while_revalidate, coalesced_shared, store_error).")
	limitG, err := m.Float64ObservableGauge("sluice.quota.limit", metric.WithUnit("{unit}"),
		metric.WithDescription("Capacity of a provider quota bucket learned from response headers."))
	errs = append(errs, err)
	remainingG, err := m.Float64ObservableGauge("sluice.quota.remaining", metric.WithUnit("{unit}"),
		metric.WithDescription("Estimated units left in a provider quota bucket."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sluiceotel: %w", err)
	}
	in.reg, err = m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		for _, b := range t.Stats().Buckets {
			attrs := metric.WithAttributes(semconv.ServerAddress(b.Host),
				attribute.String("sluice.quota.bucket", b.Bucket), attribute.String("sluice.quota.unit", string(b.Unit)))
			if b.Limit >= 0 {
				ob.ObserveFloat64(limitG, b.Limit, attrs)
			}
			if b.Remaining >= 0 {
				ob.ObserveFloat64(remainingG, float64(b.Remaining), attrs)
			}
		}
		return nil
	}, limitG, remainingG)
	if err != nil {
		return nil, fmt.Errorf("sluiceotel: %w", err)
	}
	t.AddObserver((*observer)(in))
	return in, nil
}

// Close unregisters the quota gauges' callback.
func (in *Instrumentation) Close() error { return in.reg.Unregister() }

// observer is the sluice.Observer side of an Instrumentation.
type observer Instrumentation

func (o *observer) route(r sluice.RouteInfo) string {
	if r.Unrouted && !o.perHost {
		return "default"
	}
	return r.Name
}

// routeAttrs are what the spans and meters of one route label share, made
// once so that a request allocates none of them.
type routeAttrs struct {
	spanName string
	attr     attribute.KeyValue            // sluice.route
	dur      []metric.RecordOption         // sluice.request.duration
	outcome  map[string][]metric.AddOption // sluice.requests, by outcome
}

func (o *observer) attrsOf(r sluice.RouteInfo) *routeAttrs {
	name := o.route(r)
	if ra, ok := o.routes.Load(name); ok {
		return ra.(*routeAttrs)
	}
	ra := &routeAttrs{spanName: "sluice " + name, attr: attribute.String("sluice.route", name), outcome: map[string][]metric.AddOption{}}
	ra.dur = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(ra.attr))}
	for _, oc := range outcomes {
		ra.outcome[oc] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(ra.attr, attribute.String("sluice.outcome", oc)))}
	}
	got, _ := o.routes.LoadOrStore(name, ra)
	return got.(*routeAttrs)
}

// outcomes are the values of sluice.outcome.
var outcomes = []string{"success", "status_4xx", "status_5xx", "transport", "rate_limited", "circuit_open", "retries_exhausted", "canceled"}

// pointKey identifies one http.client.request.duration point.
type pointKey struct {
	method, host, scheme, errType string
	port, status                  int
}

// maxPoints bounds the cached attribute sets of http.client.request.duration;
// beyond it each attempt builds its own.
const maxPoints = 1024

func (o *observer) pointOf(k pointKey) []metric.RecordOption {
	if p, ok := o.points.Load(k); ok {
		return p.([]metric.RecordOption)
	}
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs, methodAttrs(k.method)[0], semconv.ServerAddress(k.host), semconv.URLScheme(k.scheme))
	if k.port > 0 {
		attrs = append(attrs, semconv.ServerPort(k.port))
	}
	if k.status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(k.status))
	}
	if k.errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(k.errType))
	}
	p := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	if o.npoint.Load() < maxPoints {
		if _, loaded := o.points.LoadOrStore(k, p); !loaded {
			o.npoint.Add(1)
		}
	}
	return p
}

// StartRequest starts the request span.
func (o *observer) StartRequest(req *http.Request, r sluice.RouteInfo) *http.Request {
	ra := o.attrsOf(r)
	host, port := hostPort(req.URL)
	ctx, _ := o.tracer.Start(req.Context(), ra.spanName, o.startOf(startKey{ra, req.Method, host, port})...)
	return req.WithContext(ctx)
}

// EndRequest ends the request span and records the request's meters.
func (o *observer) EndRequest(req *http.Request, r sluice.RouteInfo, resp *http.Response, err error, d time.Duration) {
	ctx := req.Context()
	span := trace.SpanFromContext(ctx)
	ra := o.attrsOf(r)
	o.endSpan(span, resp, err, errorType(resp, err))
	o.requests.Add(ctx, 1, ra.outcome[sluice.RequestOutcome(ctx, resp, err)]...)
	o.reqDur.Record(ctx, d.Seconds(), ra.dur...)
}

// StartAttempt starts the attempt's CLIENT span and injects its trace
// context into a copy of the request.
func (o *observer) StartAttempt(areq *http.Request, a sluice.AttemptInfo) *http.Request {
	if o.base {
		return areq
	}
	attrs := requestAttrs(areq)
	if a.Resend > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(a.Resend))
	}
	ctx, _ := o.tracer.Start(areq.Context(), methodName(areq.Method), clientKind, trace.WithAttributes(attrs...))
	// A shallow copy with its own header map: the URL and body are
	// shared, neither is modified.
	r := areq.WithContext(ctx)
	r.Header = areq.Header.Clone()
	if r.Header == nil {
		r.Header = http.Header{}
	}
	o.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	return r
}

// EndAttempt ends the attempt's span and records
// http.client.request.duration.
func (o *observer) EndAttempt(areq *http.Request, a sluice.AttemptInfo, resp *http.Response, err error, d time.Duration) {
	if o.base {
		return
	}
	ctx := areq.Context()
	span := trace.SpanFromContext(ctx)
	host, port := hostPort(areq.URL)
	k := pointKey{method: areq.Method, host: host, scheme: areq.URL.Scheme, port: port, errType: errorType(resp, err)}
	if resp != nil {
		k.status = resp.StatusCode
	}
	o.endSpan(span, resp, err, k.errType)
	o.attemptDur.Record(ctx, d.Seconds(), o.pointOf(k)...)
}

// Event adds a span event to the request span and counts what sluice's
// meters count.
func (o *observer) Event(ctx context.Context, e sluice.Event) {
	route := o.attrsOf(e.Route).attr
	attrs := make([]attribute.KeyValue, 0, 4)
	if e.Reason != "" {
		attrs = append(attrs, attribute.String("sluice.reason", e.Reason))
	}
	if e.Wait > 0 || e.Kind == "rate_wait" {
		attrs = append(attrs, attribute.Float64("sluice.wait_seconds", e.Wait.Seconds()))
	}
	if e.Attempt > 0 {
		attrs = append(attrs, attribute.Int("sluice.attempt", e.Attempt))
	}
	if e.Status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(e.Status))
	}
	trace.SpanFromContext(ctx).AddEvent(e.Kind, trace.WithAttributes(attrs...))
	switch e.Kind {
	case "rate_wait":
		o.waitDur.Record(ctx, e.Wait.Seconds(), metric.WithAttributes(route, attribute.String("sluice.wait.reason", e.Reason)))
	case "retry_scheduled":
		o.retries.Add(ctx, 1, metric.WithAttributes(route, attribute.String("sluice.reason", e.Reason)))
	case "rate_limited":
		o.throttles.Add(ctx, 1, metric.WithAttributes(route))
	case "rate_refused":
		o.refusals.Add(ctx, 1, metric.WithAttributes(route, attribute.String("sluice.reason", e.Reason)))
	default:
		if result, ok := cacheResults[e.Kind]; ok {
			o.lookups.Add(ctx, 1, metric.WithAttributes(route, attribute.String("sluice.cache.result", result)))
		}
	}
}

var (
	internalKind = trace.WithSpanKind(trace.SpanKindInternal)
	clientKind   = trace.WithSpanKind(trace.SpanKindClient)
)

// startKey identifies the start options of a request span.
type startKey struct {
	ra           *routeAttrs
	method, host string
	port         int
}

// startOf returns the start options of a request span, made once per
// route, method and server (up to maxPoints of them).
func (o *observer) startOf(k startKey) []trace.SpanStartOption {
	if p, ok := o.starts.Load(k); ok {
		return p.([]trace.SpanStartOption)
	}
	attrs := append(methodAttrs(k.method), semconv.ServerAddress(k.host), semconv.ServerPort(k.port), k.ra.attr)
	p := []trace.SpanStartOption{internalKind, trace.WithAttributes(attrs...)}
	if o.nstart.Load() < maxPoints {
		if _, loaded := o.starts.LoadOrStore(k, p); !loaded {
			o.nstart.Add(1)
		}
	}
	return p
}

// endKey identifies the attributes set when a span ends.
type endKey struct {
	status  int
	errType string
}

// endSpan sets the status code and error.type of span and ends it.
func (o *observer) endSpan(span trace.Span, resp *http.Response, err error, errType string) {
	if !span.IsRecording() {
		span.End()
		return
	}
	k := endKey{errType: errType}
	if resp != nil {
		k.status = resp.StatusCode
	}
	if errType != "" {
		span.SetStatus(codes.Error, statusDescription(resp, err))
	}
	span.SetAttributes(o.endAttrs(k)...)
	span.End()
}

// endAttrs returns the attributes of k; the SDK copies them, so one slice
// per status and error type (a small set: sluice's errors and the status
// codes seen) serves every span.
func (o *observer) endAttrs(k endKey) []attribute.KeyValue {
	if a, ok := o.ends.Load(k); ok {
		return a.([]attribute.KeyValue)
	}
	var a []attribute.KeyValue
	if k.status > 0 {
		a = append(a, semconv.HTTPResponseStatusCode(k.status))
	}
	if k.errType != "" {
		a = append(a, semconv.ErrorTypeKey.String(k.errType))
	}
	if k.status < 1000 && len(k.errType) < 40 {
		o.ends.Store(k, a)
	}
	return a
}

// cacheResults maps cache events to sluice.cache.result values.
var cacheResults = map[string]string{
	"cache_hit": "hit", "cache_miss": "miss", "cache_stale": "stale", "coalesced": "coalesced",
	"cache_revalidated": "revalidated", "cache_stale_revalidate": "stale_while_revalidate",
	"coalesced_shared": "coalesced_shared", "cache_store_error": "store_error",
}

// requestAttrs are the HTTP client span attributes known before sending.
func requestAttrs(r *http.Request) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, methodAttrs(r.Method)...)
	host, port := hostPort(r.URL)
	attrs = append(attrs, semconv.ServerAddress(host), semconv.URLFull(FullURL(r.URL)))
	if port > 0 {
		attrs = append(attrs, semconv.ServerPort(port))
	}
	return attrs
}

// FullURL is u as url.full: the user name and password replaced by
// "REDACTED", and the values of secret query parameters (access_token,
// api_key, signature, ...) redacted.
func FullURL(u *url.URL) string {
	v := *u
	if v.User != nil {
		v.User = url.UserPassword("REDACTED", "REDACTED")
	}
	return redact.URL(&v)
}

func hostPort(u *url.URL) (string, int) {
	host := u.Hostname()
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return host, n
	}
	switch u.Scheme {
	case "https":
		return host, 443
	case "http":
		return host, 80
	}
	return host, 0
}

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true, "QUERY": true,
}

// methodAttrs is http.request.method, "_OTHER" for a method the
// conventions do not know (with http.request.method_original).
func methodAttrs(m string) []attribute.KeyValue {
	if m == "" {
		m = http.MethodGet
	}
	if knownMethods[m] {
		return []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(m)}
	}
	return []attribute.KeyValue{semconv.HTTPRequestMethodKey.String("_OTHER"), semconv.HTTPRequestMethodOriginal(m)}
}

// methodName is the attempt span's name: the method, or "HTTP" for an
// unknown one.
func methodName(m string) string {
	if m == "" {
		return http.MethodGet
	}
	if knownMethods[m] {
		return m
	}
	return "HTTP"
}

// errorType is error.type: the status code for a status of 400 or more,
// a short name for sluice's typed errors and common transport errors, else
// the error's Go type; "" for success.
func errorType(resp *http.Response, err error) string {
	if err == nil {
		if resp != nil && resp.StatusCode >= 400 {
			return strconv.Itoa(resp.StatusCode)
		}
		return ""
	}
	var ne net.Error
	switch {
	case errors.Is(err, sluice.ErrRateLimited):
		return "sluice.rate_limited"
	case errors.Is(err, sluice.ErrCircuitOpen):
		return "sluice.circuit_open"
	case errors.Is(err, sluice.ErrRetriesExhausted):
		return "sluice.retries_exhausted"
	case errors.Is(err, sluice.ErrClosed):
		return "sluice.closed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return fmt.Sprintf("%T", err)
}

// statusDescription is the span status text: the error (credentials
// redacted) or the status.
func statusDescription(resp *http.Response, err error) string {
	if err != nil {
		return redact.Error(err).Error()
	}
	return resp.Status
}
