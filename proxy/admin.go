package proxy

import (
	_ "embed"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"time"
)

//go:embed status.html
var statusPage []byte

// Admin returns the admin listener's handler: /healthz (200 while the
// process runs), /readyz (200 while serving, 503 once draining), /metrics
// (Prometheus text format: per route requests sent, limit, queue depth,
// 429s, learned quota and breaker state, per consumer answers; the
// pipeline's families named as the sluiceprom exporter names them),
// /status (a live page, all assets embedded) and /status.json (what the
// page polls).
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
	var n int64
	h.inflight.each(func(s *reqState) {
		if !s.sent.Load() {
			n++
		}
	})
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

// InFlight returns the number of requests in flight (queued or sent).
func (h *Handler) InFlight() int {
	n := h.inflight.len()
	h.mu.Lock()
	defer h.mu.Unlock()
	return n + len(h.tunnels)/2
}

// remaining is a learned remaining count, -1 when unknown (negative).
func remaining(n int64) float64 {
	if n < 0 {
		return -1
	}
	return float64(n)
}
