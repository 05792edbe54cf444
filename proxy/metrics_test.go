package proxy

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestExpositionEscaping(t *testing.T) {
	tests := []struct{ in, label, help string }{
		{`plain`, `plain`, `plain`},
		{`a"b`, `a\"b`, `a"b`},
		{`back\slash`, `back\\slash`, `back\\slash`},
		{"two\nlines", `two\nlines`, `two\nlines`},
		{`é ünïcode`, `é ünïcode`, `é ünïcode`},
	}
	for _, tt := range tests {
		if got := escapeLabel(tt.in); got != tt.label {
			t.Errorf("escapeLabel(%q) = %q, want %q", tt.in, got, tt.label)
		}
		if got := escapeHelp(tt.in); got != tt.help {
			t.Errorf("escapeHelp(%q) = %q, want %q", tt.in, got, tt.help)
		}
	}
	values := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {42, "42"}, {-1, "-1"}, {0.25, "0.25"}, {1e21, "1e+21"}, {1.5e-7, "1.5e-07"},
		{math.NaN(), "NaN"}, {math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"},
	}
	for _, v := range values {
		if got := formatValue(v.in); got != v.want {
			t.Errorf("formatValue(%v) = %q, want %q", v.in, got, v.want)
		}
	}
	var e expo
	e.family("x_total", "counter", "Help with \\ and\nnewline.")
	e.sample("x_total", 3, "route", `we"ird`, "kind", "a\\b")
	e.sample("x_total", 1)
	want := "# HELP x_total Help with \\\\ and\\nnewline.\n# TYPE x_total counter\nx_total{route=\"we\\\"ird\",kind=\"a\\\\b\"} 3\nx_total 1\n"
	if e.b.String() != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", e.b.String(), want)
	}
}

// family is a metric family as parseExposition reads it.
type family struct {
	typ     string
	samples map[string]float64 // label set as written -> value; a histogram's: `_bucket{labels}`, `_sum{...}`, `_count{...}`
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)"(,|$)`)
)

// parseExposition is a strict reader of the text format: every family has
// one HELP and one TYPE line before its samples, each sample belongs to the
// family declared last (a histogram's with the suffixes _bucket, _sum and
// _count, and only those), label pairs are well
// formed, escaped and not repeated, values parse, and no series appears
// twice. It fails the test on the first violation.
func parseExposition(t *testing.T, text string) map[string]*family {
	t.Helper()
	fams := map[string]*family{}
	var cur string
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fail := func(why string) { t.Fatalf("line %d %q: %s", n, line, why) }
		switch {
		case strings.HasPrefix(line, "# HELP "):
			f := strings.SplitN(line, " ", 4)
			if len(f) < 4 || f[3] == "" {
				fail("HELP without text")
			}
			if _, dup := fams[f[2]]; dup {
				fail("family declared twice")
			}
			cur = f[2]
			fams[cur] = &family{samples: map[string]float64{}}
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 || f[2] != cur || fams[cur].typ != "" {
				fail("TYPE must follow its family's HELP, once")
			}
			switch f[3] {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				fail("unknown type")
			}
			fams[cur].typ = f[3]
			if f[3] == "counter" && !strings.HasSuffix(cur, "_total") {
				fail("a counter's name ends in _total")
			}
		case strings.HasPrefix(line, "#") || line == "":
			fail("unexpected comment or blank line")
		default:
			m := sampleLine.FindStringSubmatch(line)
			if m == nil {
				fail("not a sample")
			}
			if !strings.HasPrefix(m[1], cur) || fams[cur].typ == "" {
				fail("sample outside its family")
			}
			key := m[3]
			switch suffix := m[1][len(cur):]; {
			case suffix == "":
				if fams[cur].typ == "histogram" {
					fail("a histogram's samples are _bucket, _sum and _count")
				}
			case fams[cur].typ == "histogram" && (suffix == "_bucket" || suffix == "_sum" || suffix == "_count"):
				key = suffix + "{" + m[3] + "}"
			default:
				fail("sample outside its family")
			}
			seen := map[string]bool{}
			for rest := m[3]; rest != ""; {
				p := labelPair.FindStringSubmatch(rest)
				if p == nil {
					fail("bad label pair in " + rest)
				}
				if seen[p[1]] {
					fail("label repeated")
				}
				seen[p[1]] = true
				rest = rest[len(p[0]):]
			}
			v, err := strconv.ParseFloat(m[4], 64)
			if err != nil && m[4] != "+Inf" && m[4] != "-Inf" && m[4] != "NaN" {
				fail("bad value")
			}
			if _, dup := fams[cur].samples[key]; dup {
				fail("series repeated")
			}
			fams[cur].samples[key] = v
		}
	}
	return fams
}

// metricsRig is a proxy in front of a provider that states its quota in
// IETF headers, answers /throttle with 429 and holds /hold until release
// is closed.
type metricsRig struct {
	h       *Handler
	proxy   *httptest.Server
	admin   *httptest.Server
	release chan struct{}
	held    chan struct{}
	serving sync.WaitGroup // proxy ServeHTTP calls not yet returned
}

const metricsConfig = `
routes:
  - name: api
    match: {host: 127.0.0.1}
    concurrency: 1
    retry: {max_attempts: 1}
    circuit: {consecutive_failures: 50, open_timeout: 1s}
    limits: [{rate: 100/s, burst: 100}]
proxy:
  consumers:
    - {name: alice, token_env: ALICE}
    - {name: bob, token_env: BOB}
  upstreams:
    - {name: api, prefix: /api, target: %s, allow: [loopback]}
`

func newMetricsRig(t *testing.T) *metricsRig {
	t.Helper()
	r := &metricsRig{release: make(chan struct{}), held: make(chan struct{}, 1)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("RateLimit-Policy", `"minute";q=600;w=60`)
		w.Header().Set("RateLimit", `"minute";r=590;t=30`)
		switch req.URL.Path {
		case "/throttle":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/hold":
			r.held <- struct{}{}
			<-r.release
		}
		io.WriteString(w, "ok")
	}))
	cfg, err := Parse([]byte(fmt.Sprintf(metricsConfig, up.URL)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Getenv = func(k string) string { return testEnv[k] }
	cfg.Dialer = loopbackDialer{t}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	// A client has its answer before ServeHTTP returns and records it:
	// tests that read the per-consumer answers wait for serving.
	r.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.serving.Add(1)
		defer r.serving.Done()
		h.ServeHTTP(w, req)
	}))
	r.admin = httptest.NewServer(h.Admin())
	t.Cleanup(func() {
		r.proxy.Close()
		r.admin.Close()
		h.Close()
		up.Close()
	})
	return r
}

func (r *metricsRig) get(t *testing.T, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.proxy.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.proxy.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (r *metricsRig) scrape(t *testing.T) (map[string]*family, string) {
	t.Helper()
	resp, err := r.admin.Client().Get(r.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	b, _ := io.ReadAll(resp.Body)
	return parseExposition(t, string(b)), string(b)
}

// TestMetricsScrape scrapes /metrics after known traffic and while one
// request is held upstream and another queues behind the route's
// concurrency cap of 1: requests sent, the limit, the queue, 429s, the
// learned quota, the breaker and each consumer's answers read as sent.
func TestMetricsScrape(t *testing.T) {
	r := newMetricsRig(t)
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/api/a", aliceToken, 200}, {"/api/b", aliceToken, 200}, {"/api/throttle", aliceToken, 429},
		{"/api/c", bobToken, 200}, {"/api/d", "wrong", 401},
	} {
		if got := r.get(t, c.path, c.token); got != c.want {
			t.Fatalf("%s: %d, want %d", c.path, got, c.want)
		}
	}
	r.serving.Wait() // their answers recorded
	// One request held upstream, a second queued behind it.
	done := make(chan int, 2)
	go func() { done <- r.get(t, "/api/hold", aliceToken) }()
	<-r.held
	go func() { done <- r.get(t, "/api/queued", bobToken) }()
	var fams map[string]*family
	var text string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		fams, text = r.scrape(t)
		if fams["sluice_proxy_queue_depth"].samples[`route="api"`] == 1 || time.Now().After(deadline) {
			break
		}
	}
	close(r.release)
	for range 2 {
		if code := <-done; code != 200 {
			t.Errorf("held or queued request: %d", code)
		}
	}
	want := []struct {
		family, labels string
		value          float64
	}{
		{"sluice_proxy_queue_depth", `route="api"`, 1},
		{"sluice_requests_in_flight", `route="api"`, 2},
		{"sluice_attempts_in_flight", `route="api"`, 1},
		{"sluice_proxy_waiting", ``, 1},
		{"sluice_proxy_limit_per_second", `route="api"`, 100},
		{"sluice_attempts_total", `route="api",status_class="2xx"`, 3},
		{"sluice_attempts_total", `route="api",status_class="4xx"`, 1},
		{"sluice_requests_total", `route="api",outcome="success"`, 3},
		{"sluice_requests_total", `route="api",outcome="retries_exhausted"`, 1}, // the 429, with max_attempts 1
		{"sluice_throttles_total", `route="api"`, 1},
		{"sluice_circuit_state", `route="api",state="closed"`, 1},
		{"sluice_circuit_state", `route="api",state="open"`, 0},
		{"sluice_quota_limit", `host="` + hostOf(r) + `",bucket="ietf:minute",unit="requests"`, 600},
		{"sluice_proxy_consumer_requests_total", `consumer="alice",status_class="2xx"`, 2},
		{"sluice_proxy_consumer_requests_total", `consumer="alice",status_class="4xx"`, 1},
		{"sluice_proxy_consumer_requests_total", `consumer="bob",status_class="2xx"`, 1},
		{"sluice_proxy_refused_total", `reason="unauthenticated"`, 1},
		{"sluice_proxy_requests_total", `mode="base"`, 5},
	}
	for _, w := range want {
		f := fams[w.family]
		if f == nil {
			t.Errorf("no family %s in:\n%s", w.family, text)
			continue
		}
		if got, ok := f.samples[w.labels]; !ok || got != w.value {
			t.Errorf("%s{%s} = %v (present %v), want %v", w.family, w.labels, got, ok, w.value)
		}
	}
	if _, ok := fams["sluice_quota_remaining"].samples[`host="`+hostOf(r)+`",bucket="ietf:minute",unit="requests"`]; !ok {
		t.Errorf("no learned remaining quota:\n%s", text)
	}
	for _, secret := range []string{aliceToken, bobToken, "/api/", "/hold"} {
		if strings.Contains(text, secret) {
			t.Errorf("metrics carry %q", secret)
		}
	}
	// After the release: nothing in flight, the queue empty.
	r.serving.Wait()
	fams, _ = r.scrape(t)
	for _, f := range []string{"sluice_proxy_queue_depth", "sluice_requests_in_flight", "sluice_attempts_in_flight"} {
		if v := fams[f].samples[`route="api"`]; v != 0 {
			t.Errorf("%s = %v after every request ended", f, v)
		}
	}
	if v := fams["sluice_proxy_consumer_requests_total"].samples[`consumer="bob",status_class="2xx"`]; v != 2 {
		t.Errorf("bob's answers after the queued one: %v, want 2", v)
	}
}

// hostOf is the provider's host:port, as the quota metrics name it.
func hostOf(r *metricsRig) string { return r.h.ups[0].target.Host }

// BenchmarkMeter is what /metrics' counting adds to each proxied request:
// the four Observer calls of a request sent once, and the consumer's
// answer and queue wait.
func BenchmarkMeter(b *testing.B) {
	cfg := Config{Consumers: []Consumer{{Name: "alice", TokenEnv: "ALICE"}}}
	cfg.Pipeline.Routes = append(cfg.Pipeline.Routes, sluice.Route{Name: "api"})
	m := newMeter(cfg)
	ri := sluice.RouteInfo{Name: "api"}
	ai := sluice.AttemptInfo{RouteInfo: ri}
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/x", nil)
	resp := &http.Response{StatusCode: 200}
	st := &reqState{}
	st.waitedNs.Store(int64(200 * time.Millisecond))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.StartRequest(req, ri)
			m.StartAttempt(req, ai)
			m.EndAttempt(req, ai, resp, nil, 0)
			m.EndRequest(req, ri, resp, nil, 0)
			m.waited("alice", st)
			m.answered("alice", 200)
		}
	})
}
