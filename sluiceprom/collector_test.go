package sluiceprom

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// byHost sends each request to the RoundTripper of its host.
type byHost map[string]http.RoundTripper

func (m byHost) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt, ok := m[req.URL.Hostname()]; ok {
		return rt.RoundTrip(req)
	}
	return m["*"].RoundTrip(req)
}

func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
}

func testConfig() sluice.Config {
	noQuota := &sluice.QuotaConfig{Disabled: true}
	return sluice.Config{Routes: []sluice.Route{
		{Name: "api", Match: sluice.Match{Host: "api.example.com"}, Policy: sluice.Policy{Quota: noQuota}},
		{Name: "cached", Match: sluice.Match{Host: "cache.example.com"}, Policy: sluice.Policy{
			Quota: noQuota, Cache: &sluice.CacheConfig{TTL: time.Minute},
		}},
	}}
}

// TestScriptedRun runs a known job against sluicetest providers and checks
// the exact values and labels of the counters scraped.
func TestScriptedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A hidden bucket of 2 refilling 1/s, throttled with 429 and
		// Retry-After: of 4 back-to-back GETs, the 3rd and 4th are each
		// throttled once, wait out the route's pause and succeed.
		limited := sluicetest.NewProvider(sluicetest.Options{Limit: sluicetest.TokenBucket(1, 2), Dialect: sluicetest.DialectRetryAfter})
		open := sluicetest.NewProvider(sluicetest.Options{})
		defer limited.Close()
		defer open.Close()
		tr, err := sluice.NewTransport(testConfig(), byHost{"api.example.com": limited, "*": open})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		c := New(tr)
		client := &http.Client{Transport: tr}
		for i := range 4 {
			get(t, client, fmt.Sprintf("https://api.example.com/items/%d", i))
		}
		get(t, client, "https://cache.example.com/doc") // miss
		get(t, client, "https://cache.example.com/doc") // hit
		get(t, client, "https://one.example.org/a")     // no route
		get(t, client, "https://two.example.org/b?x=1") // no route, another host

		want := `
# HELP sluice_attempts_total Attempts sent upstream, retries included, by route and status class ("error": no response).
# TYPE sluice_attempts_total counter
sluice_attempts_total{route="api",status_class="1xx"} 0
sluice_attempts_total{route="api",status_class="2xx"} 4
sluice_attempts_total{route="api",status_class="3xx"} 0
sluice_attempts_total{route="api",status_class="4xx"} 2
sluice_attempts_total{route="api",status_class="5xx"} 0
sluice_attempts_total{route="api",status_class="error"} 0
sluice_attempts_total{route="cached",status_class="1xx"} 0
sluice_attempts_total{route="cached",status_class="2xx"} 1
sluice_attempts_total{route="cached",status_class="3xx"} 0
sluice_attempts_total{route="cached",status_class="4xx"} 0
sluice_attempts_total{route="cached",status_class="5xx"} 0
sluice_attempts_total{route="cached",status_class="error"} 0
sluice_attempts_total{route="default",status_class="1xx"} 0
sluice_attempts_total{route="default",status_class="2xx"} 2
sluice_attempts_total{route="default",status_class="3xx"} 0
sluice_attempts_total{route="default",status_class="4xx"} 0
sluice_attempts_total{route="default",status_class="5xx"} 0
sluice_attempts_total{route="default",status_class="error"} 0
# HELP sluice_cache_requests_total Cache lookups by result: hit (fresh entry), miss, stale (stale entry served because the upstream failed), revalidated (304: stored body reused), stale_while_revalidate (stale entry served while refreshed in the background), coalesced_shared (entry another process sharing the store fetched while this one waited), store_error (the cache store failed; treated as a miss).
# TYPE sluice_cache_requests_total counter
sluice_cache_requests_total{result="coalesced_shared",route="api"} 0
sluice_cache_requests_total{result="coalesced_shared",route="cached"} 0
sluice_cache_requests_total{result="coalesced_shared",route="default"} 0
sluice_cache_requests_total{result="hit",route="api"} 0
sluice_cache_requests_total{result="hit",route="cached"} 1
sluice_cache_requests_total{result="hit",route="default"} 0
sluice_cache_requests_total{result="miss",route="api"} 0
sluice_cache_requests_total{result="miss",route="cached"} 1
sluice_cache_requests_total{result="miss",route="default"} 0
sluice_cache_requests_total{result="revalidated",route="api"} 0
sluice_cache_requests_total{result="revalidated",route="cached"} 0
sluice_cache_requests_total{result="revalidated",route="default"} 0
sluice_cache_requests_total{result="stale",route="api"} 0
sluice_cache_requests_total{result="stale",route="cached"} 0
sluice_cache_requests_total{result="stale",route="default"} 0
sluice_cache_requests_total{result="stale_while_revalidate",route="api"} 0
sluice_cache_requests_total{result="stale_while_revalidate",route="cached"} 0
sluice_cache_requests_total{result="stale_while_revalidate",route="default"} 0
sluice_cache_requests_total{result="store_error",route="api"} 0
sluice_cache_requests_total{result="store_error",route="cached"} 0
sluice_cache_requests_total{result="store_error",route="default"} 0
# HELP sluice_provider_pauses_total Times a throttle paused the whole route (or extended its pause).
# TYPE sluice_provider_pauses_total counter
sluice_provider_pauses_total{route="api"} 2
# HELP sluice_requests_total Requests made through the Transport (RoundTrip calls that returned), by route and outcome.
# TYPE sluice_requests_total counter
sluice_requests_total{outcome="canceled",route="api"} 0
sluice_requests_total{outcome="canceled",route="cached"} 0
sluice_requests_total{outcome="canceled",route="default"} 0
sluice_requests_total{outcome="circuit_open",route="api"} 0
sluice_requests_total{outcome="circuit_open",route="cached"} 0
sluice_requests_total{outcome="circuit_open",route="default"} 0
sluice_requests_total{outcome="rate_limited",route="api"} 0
sluice_requests_total{outcome="rate_limited",route="cached"} 0
sluice_requests_total{outcome="rate_limited",route="default"} 0
sluice_requests_total{outcome="retries_exhausted",route="api"} 0
sluice_requests_total{outcome="retries_exhausted",route="cached"} 0
sluice_requests_total{outcome="retries_exhausted",route="default"} 0
sluice_requests_total{outcome="status_4xx",route="api"} 0
sluice_requests_total{outcome="status_4xx",route="cached"} 0
sluice_requests_total{outcome="status_4xx",route="default"} 0
sluice_requests_total{outcome="status_5xx",route="api"} 0
sluice_requests_total{outcome="status_5xx",route="cached"} 0
sluice_requests_total{outcome="status_5xx",route="default"} 0
sluice_requests_total{outcome="success",route="api"} 4
sluice_requests_total{outcome="success",route="cached"} 2
sluice_requests_total{outcome="success",route="default"} 2
sluice_requests_total{outcome="transport",route="api"} 0
sluice_requests_total{outcome="transport",route="cached"} 0
sluice_requests_total{outcome="transport",route="default"} 0
# HELP sluice_retries_total Retries scheduled, by route and the failed attempt's class (throttled, transient).
# TYPE sluice_retries_total counter
sluice_retries_total{reason="throttled",route="api"} 2
# HELP sluice_throttles_total Throttle responses (429, or the provider's own throttle status) received.
# TYPE sluice_throttles_total counter
sluice_throttles_total{route="api"} 2
sluice_throttles_total{route="cached"} 0
sluice_throttles_total{route="default"} 0
`
		names := []string{"sluice_attempts_total", "sluice_cache_requests_total", "sluice_provider_pauses_total",
			"sluice_requests_total", "sluice_retries_total", "sluice_throttles_total"}
		if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
			t.Fatal(err)
		}
		if st := limited.Stats(); st.Accepted != 4 || st.Rejected != 2 {
			t.Fatalf("provider accepted %d, rejected %d; want 4, 2", st.Accepted, st.Rejected)
		}
		// Two waits at the provider pause, each the 1s Retry-After (plus
		// up to 10% jitter); nothing waited at another gate.
		h := histogram(t, c, "sluice_wait_seconds", "route", "api", "reason", "provider_pause")
		if h.GetSampleCount() != 2 || h.GetSampleSum() < 1.8 || h.GetSampleSum() > 2.2 {
			t.Fatalf("provider_pause waits: count %d sum %.3fs, want 2 waits of ~1s", h.GetSampleCount(), h.GetSampleSum())
		}
		if h := histogram(t, c, "sluice_wait_seconds", "route", "api", "reason", "limit"); h.GetSampleCount() != 0 {
			t.Fatalf("limit waits: %d, want 0", h.GetSampleCount())
		}
		if h := histogram(t, c, "sluice_request_duration_seconds", "route", "api"); h.GetSampleCount() != 4 {
			t.Fatalf("request durations: %d, want 4", h.GetSampleCount())
		}
		if n := gauge(t, c, "sluice_requests_in_flight", "route", "api"); n != 0 {
			t.Fatalf("requests in flight after the run: %v", n)
		}
		if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP sluice_circuit_state State of the route's circuit breaker: 1 for the current state, 0 for the others.
# TYPE sluice_circuit_state gauge
sluice_circuit_state{route="api",state="closed"} 1
sluice_circuit_state{route="api",state="half-open"} 0
sluice_circuit_state{route="api",state="open"} 0
sluice_circuit_state{route="cached",state="closed"} 1
sluice_circuit_state{route="cached",state="half-open"} 0
sluice_circuit_state{route="cached",state="open"} 0
`), "sluice_circuit_state"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLint runs the Prometheus linter over every metric the collector
// exposes after a run (names, units, help).
func TestLint(t *testing.T) {
	tr, err := sluice.NewTransport(testConfig(), sluicetest.NewProvider(sluicetest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c := New(tr)
	get(t, &http.Client{Transport: tr}, "https://api.example.com/x")
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestCardinality sends 10,000 requests with distinct paths and query
// strings (and unrouted requests to 100 hosts): the number of series must
// not change.
func TestCardinality(t *testing.T) {
	tr, err := sluice.NewTransport(testConfig(), sluicetest.NewProvider(sluicetest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c := New(tr)
	client := &http.Client{Transport: tr}
	for _, u := range []string{"https://api.example.com/", "https://cache.example.com/", "https://h0.example.net/"} {
		get(t, client, u)
	}
	before := testutil.CollectAndCount(c)
	for i := range 10_000 {
		host := []string{"api.example.com", "cache.example.com", fmt.Sprintf("h%d.example.net", i%100)}[i%3]
		get(t, client, fmt.Sprintf("https://%s/users/%d/repos?page=%d&token=t%d", host, i, i, i))
	}
	if after := testutil.CollectAndCount(c); after != before {
		t.Fatalf("series: %d before, %d after 10,000 distinct paths and queries", before, after)
	}
}

func TestOptionsErrors(t *testing.T) {
	tr, err := sluice.NewTransport(sluice.Config{}, sluicetest.NewProvider(sluicetest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tests := []struct {
		name string
		tr   *sluice.Transport
		o    Options
		want string
	}{
		{"nil transport", nil, Options{}, "nil Transport"},
		{"unsorted", tr, Options{WaitBuckets: []float64{1, 0.5}}, "Options.WaitBuckets [1 0.5]: want upper bounds in increasing order"},
		{"duplicate", tr, Options{DurationBuckets: []float64{1, 1}}, "Options.DurationBuckets [1 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWithOptions(tt.tr, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// histogram returns the histogram of name with the given label pairs.
func histogram(t *testing.T, c prometheus.Collector, name string, kv ...string) *histogramValue {
	t.Helper()
	m := find(t, c, name, kv...)
	return &histogramValue{count: m.GetHistogram().GetSampleCount(), sum: m.GetHistogram().GetSampleSum()}
}

func gauge(t *testing.T, c prometheus.Collector, name string, kv ...string) float64 {
	t.Helper()
	return find(t, c, name, kv...).GetGauge().GetValue()
}
