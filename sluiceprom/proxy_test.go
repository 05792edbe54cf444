package sluiceprom

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/proxy"
	"github.com/sluicehq/sluice/sluicetest"
)

const proxyYAML = `
routes:
  - name: quota
    match: {host: 127.0.0.1, path: /quota/}
  - name: api
    match: {host: 127.0.0.1}
    circuit: {consecutive_failures: 50, open_timeout: 1s}
    cache: {ttl: 10s}
    retry: {max_attempts: 3, base_delay: 1ms, max_delay: 5ms}
    limits: [{rate: 100/s, burst: 100}] # over the provider's: it throttles
proxy:
  consumers:
    - {name: w1, token_env: W1}
  upstreams:
    - {name: api, prefix: /api, target: %s, allow: [loopback]}
    - {name: quota, prefix: /quota, target: %s/quota, allow: [loopback]}
`

// TestProxyMetrics reads the sluice proxy's /metrics, which package proxy
// writes without the Prometheus client, with Prometheus' own text parser
// and linter, and compares it with this Collector over the same pipeline:
// every family both expose has the same type and label names, and the
// counters both take from Stats or count the same way have the same
// values.
func TestProxyMetrics(t *testing.T) {
	prov := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.TokenBucket(20, 2), Dialect: sluicetest.DialectNone})
	defer prov.Close()
	stated := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.TokenBucket(20, 5), Dialect: sluicetest.DialectIETF})
	defer stated.Close()
	cfg, err := proxy.Parse(fmt.Appendf(nil, proxyYAML, prov.URL, stated.URL))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Getenv = func(k string) string { return map[string]string{"W1": "tok-w1"}[k] }
	h, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(h.Transport()))
	srv := httptest.NewServer(h)
	defer srv.Close()
	admin := httptest.NewServer(h.Admin())
	defer admin.Close()

	// 30 requests at once to a provider that states no quota, over its
	// burst of 2: 429s and retries; repeated paths: coalesced requests and
	// cache hits.
	// Then a few to a provider that states its quota: learned buckets.
	var wg sync.WaitGroup
	for i := range 36 {
		path := fmt.Sprintf("/api/items/%d", i%10)
		if i >= 30 {
			path = fmt.Sprintf("/quota/items/%d", i)
			wg.Wait()
		}
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer tok-w1")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	resp, err := admin.Client().Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := expfmt.ResponseFormat(resp.Header); got.FormatType() != expfmt.TypeTextPlain {
		t.Errorf("Content-Type %q is not the text format", resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mine, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus' parser refuses /metrics: %v\n%s", err, text)
	}
	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	theirs := map[string]*dto.MetricFamily{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		theirs[mf.GetName()] = mf
	}
	// Families whose values must agree: both read them from Stats, or both
	// count them the same way through an Observer.
	sameValues := []string{"sluice_requests_total", "sluice_attempts_total", "sluice_throttles_total", "sluice_cache_requests_total",
		"sluice_coalesced_requests_total", "sluice_circuit_state", "sluice_quota_limit", "sluice_quota_throttles_total",
		"sluice_requests_in_flight", "sluice_attempts_in_flight"}
	shared := 0
	for name, mf := range mine {
		if !strings.HasPrefix(name, "sluice_proxy_") && theirs[name] == nil {
			t.Errorf("%s is named like the Collector's families but the Collector has none", name)
			continue
		}
		other := theirs[name]
		if other == nil {
			continue
		}
		shared++
		if mf.GetType() != other.GetType() {
			t.Errorf("%s: type %v here, %v in the Collector", name, mf.GetType(), other.GetType())
		}
		for _, m := range mf.Metric {
			o := match(other, m)
			if o == nil {
				if slices.Contains(sameValues, name) {
					t.Errorf("%s%v: no such series in the Collector", name, labelsOf(m))
				}
				continue
			}
			if slices.Contains(sameValues, name) && value(m) != value(o) {
				t.Errorf("%s%v = %v here, %v in the Collector", name, labelsOf(m), value(m), value(o))
			}
		}
	}
	if shared < len(sameValues) {
		t.Errorf("only %d families shared with the Collector, want at least %d", shared, len(sameValues))
	}
	for _, want := range []string{"sluice_proxy_queue_depth", "sluice_proxy_consumer_requests_total", "sluice_proxy_limit_per_second", "sluice_quota_remaining"} {
		if mine[want] == nil {
			t.Errorf("no %s", want)
		}
	}
	if m := match(mine["sluice_throttles_total"], &dto.Metric{Label: theirs["sluice_throttles_total"].Metric[0].Label}); m == nil || value(m) == 0 {
		t.Errorf("the burst drew no 429 (the test would not compare much):\n%s", text)
	}
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.Label {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// match finds the series of mf with exactly m's labels.
func match(mf *dto.MetricFamily, m *dto.Metric) *dto.Metric {
	want := labelsOf(m)
	for _, o := range mf.Metric {
		got := labelsOf(o)
		if len(got) != len(want) {
			continue
		}
		same := true
		for k, v := range want {
			same = same && got[k] == v
		}
		if same {
			return o
		}
	}
	return nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return -1
}
