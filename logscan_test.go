package sluice

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestLogScanEveryCredentialForm runs a faulty upstream (connection errors
// wrapped in *url.Error quoting the full URL, as instrumenting
// RoundTrippers do, and 503s) under requests carrying every credential
// form: an Authorization header, secret query parameters, URL user info, a
// custom API-key header set by Client.WithAPIKey and a route-declared
// credential header. No log line at Debug level may hold any of them. It is
// the regression test of defect 4 (issue 11): before the fix the cause
// attribute of retry_scheduled, retries_exhausted and cache_stale carried
// the raw error text, query credentials and user info included.
func TestLogScanEveryCredentialForm(t *testing.T) {
	secrets := []string{"hdr-s3cret-1", "qry-s3cret-2", "usr-s3cret-3", "key-s3cret-4", "sess-s3cret-5", "tok-s3cret-6"}
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		var n atomic.Int64
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			switch n.Add(1) % 4 {
			case 0:
				return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=1"}}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
			case 1:
				return &http.Response{StatusCode: 503, Status: "503 Service Unavailable", Body: http.NoBody, Request: r}, nil
			}
			// An instrumenting transport quoting the URL, user info and all.
			return nil, &url.Error{Op: r.Method, URL: r.URL.String(), Err: errors.New("connection reset by peer")}
		})
		cfg := Config{
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Routes: []Route{{Name: "api", Match: Match{Host: "api.example.com"}, Policy: Policy{
				Cache:             &CacheConfig{TTL: 500 * time.Millisecond, StaleIfError: time.Hour},
				Circuit:           &CircuitConfig{Disabled: true},
				Retry:             &RetryConfig{MaxAttempts: 3, Budget: &BudgetConfig{MinPerSecond: 1000}},
				CredentialHeaders: []string{"X-Session-Id"},
			}}},
		}
		c, err := NewClient(cfg, WithBaseURL("https://api.example.com/"), WithAPIKey("X-Custom-Key", secrets[3]), WithBaseTransport(base))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hc := &http.Client{Transport: c.Transport()}
		urls := []string{
			"https://api.example.com/a?api_key=" + secrets[1],
			"https://usr:" + secrets[2] + "@api.example.com/b?page=2",
			"https://api.example.com/c?access_token=" + secrets[5] + "&page=3",
		}
		for i := range 40 {
			req, _ := http.NewRequest("GET", urls[i%len(urls)], nil)
			req.Header.Set("Authorization", "Bearer "+secrets[0])
			req.Header.Set("X-Session-Id", secrets[4])
			if resp, err := hc.Do(req); err == nil {
				resp.Body.Close()
			}
			_, _ = c.Get(t.Context(), "d", url.Values{"token": {secrets[5]}})
			time.Sleep(200 * time.Millisecond)
		}
		out := logs.String()
		for _, ev := range []string{"retry_scheduled", "retries_exhausted", "cache_stale", "cache_hit"} {
			if !strings.Contains(out, "event="+ev) {
				t.Errorf("no %s event logged: the run must exercise it", ev)
			}
		}
		if !strings.Contains(out, "connection reset by peer") {
			t.Error("no transport error logged: the run must exercise the cause attribute")
		}
		for i, line := range strings.Split(out, "\n") {
			for _, s := range secrets {
				if strings.Contains(line, s) {
					t.Fatalf("log line %d leaks %s: %s", i, s, line)
				}
			}
		}
	})
}
