package sluiceotel

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// headerLog is a base RoundTripper that records the traceparent header of
// every request it sends on.
type headerLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string // guarded by mu
}

func (h *headerLog) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.seen = append(h.seen, req.Header.Get("Traceparent"))
	h.mu.Unlock()
	return h.next.RoundTrip(req)
}

type setup struct {
	tr    *sluice.Transport
	spans *tracetest.SpanRecorder
	tp    *sdktrace.TracerProvider
	rdr   *sdkmetric.ManualReader
	log   *headerLog
}

// newSetup builds a Transport with one route "api" (a limit of 2/s, burst
// 1, quota learning off) over a sluicetest provider with a hidden bucket
// of 1/s, burst 1, that throttles with 429 and Retry-After. wrap, if not
// nil, wraps the provider (otelhttp in the composition test).
func newSetup(t *testing.T, wrap func(http.RoundTripper, trace.TracerProvider) http.RoundTripper, o Options) *setup {
	t.Helper()
	p := sluicetest.NewProvider(sluicetest.Options{Limit: sluicetest.TokenBucket(1, 1), Dialect: sluicetest.DialectRetryAfter})
	t.Cleanup(p.Close)
	s := &setup{spans: tracetest.NewSpanRecorder(), rdr: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	s.log = &headerLog{next: p}
	var base http.RoundTripper = s.log
	if wrap != nil {
		base = wrap(base, s.tp)
	}
	cfg := sluice.Config{Routes: []sluice.Route{{Name: "api", Match: sluice.Match{Host: "api.example.com"}, Policy: sluice.Policy{
		Limits: []sluice.LimitConfig{{Rate: "2/s", Burst: 1}},
		Quota:  &sluice.QuotaConfig{Disabled: true},
	}}}}
	tr, err := sluice.NewTransport(cfg, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	s.tr = tr
	o.TracerProvider = s.tp
	o.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.rdr))
	o.Propagator = propagation.TraceContext{}
	inst, err := Instrument(tr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return s
}

// run sends the warm-up GET (it takes the route's token and the
// provider's) and the scripted one, which waits for the route's limit,
// is throttled, waits out the route's pause, is retried and succeeds.
func (s *setup) run(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Transport: s.tr}
	for _, u := range []string{"https://api.example.com/warm", url} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
	}
}

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// scripted returns the spans of the second request's trace: its request
// span and its children, oldest first.
func scripted(t *testing.T, spans []sdktrace.ReadOnlySpan) (sdktrace.ReadOnlySpan, []sdktrace.ReadOnlySpan) {
	t.Helper()
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if !s.Parent().IsValid() {
			roots = append(roots, s)
		}
	}
	if len(roots) != 2 {
		t.Fatalf("%d root spans, want 2 (warm-up and scripted request)", len(roots))
	}
	root := roots[1]
	var kids []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Parent().SpanID() == root.SpanContext().SpanID() {
			kids = append(kids, s)
		}
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].StartTime().Before(kids[j].StartTime()) })
	return root, kids
}

func TestSpansForWaitThrottleRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSetup(t, nil, Options{})
		s.run(t, "https://bot:hunter2@api.example.com/items?access_token=secret&page=2")
		root, kids := scripted(t, s.spans.Ended())

		if root.Name() != "sluice api" || root.SpanKind() != trace.SpanKindInternal {
			t.Fatalf("request span %q kind %v, want \"sluice api\" internal", root.Name(), root.SpanKind())
		}
		ra := attrs(root.Attributes())
		for k, v := range map[string]string{"http.request.method": "GET", "server.address": "api.example.com",
			"server.port": "443", "sluice.route": "api", "http.response.status_code": "200"} {
			if ra[k] != v {
				t.Errorf("request span %s = %q, want %q", k, ra[k], v)
			}
		}
		const wantURL = "https://REDACTED:REDACTED@api.example.com/items?access_token=REDACTED&page=2"
		var events []string
		for _, e := range root.Events() {
			a := attrs(e.Attributes)
			events = append(events, strings.TrimSpace(e.Name+" "+a["sluice.reason"]+" "+a["http.response.status_code"]))
		}
		want := []string{"rate_wait limit", "rate_limited  429", "route_paused", "retry_scheduled throttled", "rate_wait provider_pause"}
		if strings.Join(events, ",") != strings.Join(want, ",") {
			t.Fatalf("request span events %q, want %q", events, want)
		}
		wait := attrs(root.Events()[0].Attributes)["sluice.wait_seconds"]
		// A configured limit runs 0.5% under its rate (grant-to-arrival margin).
		if w, err := strconv.ParseFloat(wait, 64); err != nil || w < 0.5 || w > 0.51 {
			t.Errorf("limit wait %s s, want 0.5 plus the 0.5%% margin", wait)
		}

		if len(kids) != 2 {
			t.Fatalf("%d attempt spans, want 2", len(kids))
		}
		for i, k := range kids {
			a := attrs(k.Attributes())
			if k.Name() != "GET" || k.SpanKind() != trace.SpanKindClient {
				t.Errorf("attempt %d: span %q kind %v, want GET client", i, k.Name(), k.SpanKind())
			}
			if a["url.full"] != wantURL || a["server.address"] != "api.example.com" {
				t.Errorf("attempt %d: url.full %q server.address %q", i, a["url.full"], a["server.address"])
			}
			wantStatus, wantErr, wantResend := []string{"429", "200"}[i], []string{"429", ""}[i], []string{"", "1"}[i]
			if a["http.response.status_code"] != wantStatus || a["error.type"] != wantErr || a["http.request.resend_count"] != wantResend {
				t.Errorf("attempt %d: status %q error.type %q resend_count %q; want %q %q %q", i,
					a["http.response.status_code"], a["error.type"], a["http.request.resend_count"], wantStatus, wantErr, wantResend)
			}
			// The attempt carried its own span's trace context upstream.
			sc := k.SpanContext()
			tp := fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID())
			if got := s.log.seen[1+i]; got != tp {
				t.Errorf("attempt %d sent traceparent %q, want %q", i, got, tp)
			}
		}
		if kids[0].EndTime().After(kids[1].StartTime()) || root.EndTime().Before(kids[1].EndTime()) {
			t.Error("attempt spans overlap or outlive the request span")
		}

		checkMetrics(t, s.rdr, true)
	})
}

// checkMetrics checks the meters after run: with attempts, the
// http.client.request.duration points sluiceotel records itself.
func checkMetrics(t *testing.T, rdr *sdkmetric.ManualReader, attempts bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := rdr.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					got[m.Name+" "+key(p.Attributes)] = fmt.Sprint(p.Count)
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					got[m.Name+" "+key(p.Attributes)] = fmt.Sprint(p.Value)
				}
			}
		}
	}
	want := map[string]string{
		"sluice.requests sluice.outcome=success,sluice.route=api":                 "2",
		"sluice.retries sluice.reason=throttled,sluice.route=api":                 "1",
		"sluice.throttles sluice.route=api":                                       "1",
		"sluice.wait.duration sluice.route=api,sluice.wait.reason=limit":          "1",
		"sluice.wait.duration sluice.route=api,sluice.wait.reason=provider_pause": "1",
		"sluice.request.duration sluice.route=api":                                "2",
	}
	if attempts {
		want["http.client.request.duration http.request.method=GET,http.response.status_code=200,server.address=api.example.com,server.port=443,url.scheme=https"] = "2"
		want["http.client.request.duration error.type=429,http.request.method=GET,http.response.status_code=429,server.address=api.example.com,server.port=443,url.scheme=https"] = "1"
	}
	if len(got) != len(want) {
		t.Errorf("metrics:\n%s\nwant %d points", dump(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %s\n%s", k, got[k], v, dump(got))
		}
	}
}

func key(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return strings.Join(parts, ",")
}

func dump(m map[string]string) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, k+" "+v)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestOtelhttpInside checks the documented composition: otelhttp as
// sluice's base transport, sluiceotel with BaseInstrumented. Each attempt
// is one otelhttp CLIENT span under sluice's request span, carrying its own
// trace context; sluice makes no CLIENT span of its own.
func TestOtelhttpInside(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wrap := func(base http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
			return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagation.TraceContext{}))
		}
		s := newSetup(t, wrap, Options{BaseInstrumented: true})
		s.run(t, "https://api.example.com/items")
		spans := s.spans.Ended()
		root, kids := scripted(t, spans)
		if root.Name() != "sluice api" || len(kids) != 2 {
			t.Fatalf("request span %q with %d children, want \"sluice api\" with 2 (one otelhttp span per attempt)", root.Name(), len(kids))
		}
		for i, k := range kids {
			if k.SpanKind() != trace.SpanKindClient || k.InstrumentationScope().Name != otelhttp.ScopeName {
				t.Errorf("attempt %d: kind %v scope %q, want an otelhttp client span", i, k.SpanKind(), k.InstrumentationScope().Name)
			}
			for _, c := range spans {
				if c.Parent().SpanID() == k.SpanContext().SpanID() {
					t.Errorf("attempt %d: span %q nested under otelhttp's: two client spans per attempt", i, c.Name())
				}
			}
			sc := k.SpanContext()
			if got, want := s.log.seen[1+i], fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID()); got != want {
				t.Errorf("attempt %d sent traceparent %q, want otelhttp's %q", i, got, want)
			}
		}
		checkMetrics(t, s.rdr, false)
	})
}

// TestNilTransport checks the error for a nil Transport.
func TestNilTransport(t *testing.T) {
	if _, err := Instrument(nil, Options{}); err == nil || !strings.Contains(err.Error(), "nil Transport") {
		t.Fatalf("err %v, want nil Transport", err)
	}
}
