package sluice

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// getBodyRecorder answers 503 to the first attempt and 200 after, and
// records whether each attempt it was handed still had GetBody.
type getBodyRecorder struct {
	mu      sync.Mutex
	getBody []bool
}

func (g *getBodyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	g.mu.Lock()
	g.getBody = append(g.getBody, r.GetBody != nil)
	n := len(g.getBody)
	g.mu.Unlock()
	status := http.StatusOK
	if n == 1 {
		status = http.StatusServiceUnavailable
	}
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func (g *getBodyRecorder) seen() []bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]bool(nil), g.getBody...)
}

// TestAttemptsLeaveResendsToSluice checks which attempts reach the inner
// Transport without GetBody: those sluice may retry itself, so that
// net/http cannot re-send them behind the route's limits. The others keep
// it, and with it net/http's re-send of a request that never left.
func TestAttemptsLeaveResendsToSluice(t *testing.T) {
	tests := []struct {
		name   string
		method string
		key    bool // an Idempotency-Key header
		retry  RetryConfig
		want   []bool // GetBody present, per attempt
	}{
		{"POST with Idempotency-Key", http.MethodPost, true, RetryConfig{}, []bool{false, false}},
		{"PUT", http.MethodPut, false, RetryConfig{}, []bool{false, false}},
		{"POST on a non_idempotent route", http.MethodPost, false, RetryConfig{NonIdempotent: true}, []bool{false, false}},
		{"POST without a key: not retried by sluice", http.MethodPost, false, RetryConfig{}, []bool{true}},
		{"retries off", http.MethodPost, true, RetryConfig{MaxAttempts: 1}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &getBodyRecorder{}
				rc := tt.retry
				cfg := Config{Defaults: Policy{Retry: &rc}}
				tr := newTestTransport(t, cfg, rec)
				req, err := http.NewRequest(tt.method, "https://api.example.com/orders", strings.NewReader(`{"order":1}`))
				if err != nil {
					t.Fatal(err)
				}
				if tt.key {
					req.Header.Set("Idempotency-Key", "k1")
				}
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("RoundTrip: %v", err)
				}
				resp.Body.Close()
				if got := rec.seen(); !equalBools(got, tt.want) {
					t.Errorf("GetBody present per attempt = %v, want %v", got, tt.want)
				}
				if req.GetBody == nil {
					t.Error("the caller's request lost its GetBody")
				}
			})
		})
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNoResendBehindTheLimits breaks a reused keep-alive connection after
// the server has read a keyed POST, over loopback with net/http's own
// Transport inside sluice. net/http would re-send such a request itself,
// unseen by the route's limits; every request that reaches the server must
// be an attempt sluice made (and paced).
func TestNoResendBehindTheLimits(t *testing.T) {
	var mu sync.Mutex
	arrivals := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		arrivals[key]++
		n := arrivals[key]
		mu.Unlock()
		if key == "second" && n == 1 {
			// The request was read; the connection (reused: "first" went
			// over it) breaks before an answer.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	base := http.DefaultTransport.(*http.Transport).Clone()
	defer base.CloseIdleConnections()
	cfg := Config{Defaults: Policy{Retry: &RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}}}
	tr := newTestTransport(t, cfg, base)
	for _, key := range []string{"first", "second"} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/charges", strings.NewReader(`{"amount":100}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Idempotency-Key", key)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", key, resp.StatusCode)
		}
	}
	mu.Lock()
	total := arrivals["first"] + arrivals["second"]
	second := arrivals["second"]
	mu.Unlock()
	var attempts int64
	for _, rs := range tr.Stats().Routes {
		attempts += rs.Attempts
	}
	if second != 2 {
		t.Errorf(`"second" reached the server %d times, want 2 (the broken attempt and sluice's retry)`, second)
	}
	if int64(total) != attempts {
		t.Errorf("the server saw %d requests, sluice made %d attempts: the inner Transport re-sent some unseen", total, attempts)
	}
}
