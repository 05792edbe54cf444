package proxy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"
)

//go:embed status.html
var statusPage []byte

// Admin returns the admin listener's handler: /healthz (200 while the
// process runs), /readyz (200 while serving, 503 once draining), /metrics
// (Prometheus text format), /status (a live page, all assets embedded) and
// /status.json (what the page polls).
func (h *Handler) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if h.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("GET /metrics", h.metrics)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		w.Write(statusPage)
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(h.status())
	})
	return mux
}

// statusRoute is one route on the status page.
type statusRoute struct {
	Name      string  `json:"name"`
	Attempts  int64   `json:"attempts"`
	Throttles int64   `json:"throttles"`
	Limit     float64 `json:"limit_per_s"` // configured, 0 when none
	Breaker   string  `json:"breaker"`
	Waiting   int64   `json:"waiting"`
}

type statusBucket struct {
	Host      string  `json:"host"`
	Bucket    string  `json:"bucket"`
	Limit     float64 `json:"limit"`
	Remaining float64 `json:"remaining"`
	Pace      float64 `json:"pace_per_s"`
}

type statusDoc struct {
	Time    int64            `json:"time_ms"`
	Waiting int64            `json:"waiting"`
	Routes  []statusRoute    `json:"routes"`
	Buckets []statusBucket   `json:"buckets"`
	Refused map[string]int64 `json:"refused"`
	History []sample         `json:"history"`
}

func (h *Handler) waiting() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int64
	for s := range h.inflight {
		if !s.sent.Load() {
			n++
		}
	}
	return n
}

func (h *Handler) status() statusDoc {
	st := h.tr.Stats()
	d := statusDoc{Time: time.Now().UnixMilli(), Waiting: h.waiting(), Refused: h.Stats().Refused, History: h.hist.snapshot()}
	for _, r := range st.Routes {
		sr := statusRoute{Name: r.Name, Attempts: r.Attempts, Throttles: r.Throttles, Breaker: r.Breaker}
		if li, ok := h.limits[r.Name]; ok {
			sr.Limit = float64(li.quota) / li.window.Seconds()
		}
		d.Routes = append(d.Routes, sr)
	}
	for _, b := range st.Buckets {
		d.Buckets = append(d.Buckets, statusBucket{Host: b.Host, Bucket: b.Bucket, Limit: finite(b.Limit),
			Remaining: remaining(b.Remaining), Pace: finite(b.Pace)})
	}
	return d
}

func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return -1
	}
	return f
}

// metrics renders the proxy's and the pipeline's counters in the
// Prometheus text exposition format.
func (h *Handler) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	ps := h.Stats()
	family := func(name, typ, help string) { fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ) }
	family("sluice_proxy_requests_total", "counter", "Requests received, by mode.")
	for _, k := range sortedKeys(ps.Requests) {
		fmt.Fprintf(&b, "sluice_proxy_requests_total{mode=%q} %d\n", k, ps.Requests[k])
	}
	family("sluice_proxy_refused_total", "counter", "Requests the proxy answered itself, by reason.")
	for _, k := range sortedKeys(ps.Refused) {
		fmt.Fprintf(&b, "sluice_proxy_refused_total{reason=%q} %d\n", k, ps.Refused[k])
	}
	family("sluice_proxy_tunnels_open", "gauge", "CONNECT tunnels open.")
	fmt.Fprintf(&b, "sluice_proxy_tunnels_open %d\n", ps.TunnelsOpen)
	family("sluice_proxy_waiting", "gauge", "Requests waiting for their turn.")
	fmt.Fprintf(&b, "sluice_proxy_waiting %d\n", h.waiting())
	st := h.tr.Stats()
	type col struct {
		name, help string
		get        func(i int) float64
	}
	cols := []col{
		{"sluice_route_requests_total", "Requests per route.", func(i int) float64 { return float64(st.Routes[i].Requests) }},
		{"sluice_route_successes_total", "Requests answered below 400.", func(i int) float64 { return float64(st.Routes[i].Successes) }},
		{"sluice_route_attempts_total", "Attempts sent upstream.", func(i int) float64 { return float64(st.Routes[i].Attempts) }},
		{"sluice_route_retries_total", "Attempts after the first.", func(i int) float64 { return float64(st.Routes[i].Retries) }},
		{"sluice_route_throttles_total", "Throttle responses seen.", func(i int) float64 { return float64(st.Routes[i].Throttles) }},
		{"sluice_route_waited_seconds_total", "Time spent waiting for limits.", func(i int) float64 { return st.Routes[i].Waited.Seconds() }},
	}
	for _, c := range cols {
		family(c.name, "counter", c.help)
		for i, r := range st.Routes {
			fmt.Fprintf(&b, "%s{route=%q} %g\n", c.name, r.Name, c.get(i))
		}
	}
	family("sluice_route_failures_total", "counter", "Failed requests by kind.")
	for _, r := range st.Routes {
		for _, k := range sortedKeys(r.Failures) {
			fmt.Fprintf(&b, "sluice_route_failures_total{route=%q,kind=%q} %d\n", r.Name, k, r.Failures[k])
		}
	}
	family("sluice_quota_remaining", "gauge", "Learned remaining quota (-1 unknown).")
	for _, q := range st.Buckets {
		fmt.Fprintf(&b, "sluice_quota_remaining{host=%q,bucket=%q} %g\n", q.Host, q.Bucket, remaining(q.Remaining))
	}
	io.WriteString(w, b.String())
}

// InFlight returns the number of requests in flight (queued or sent).
func (h *Handler) InFlight() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.inflight) + len(h.tunnels)/2
}

// remaining is a learned remaining count, -1 when unknown (negative).
func remaining(n int64) float64 {
	if n < 0 {
		return -1
	}
	return float64(n)
}
