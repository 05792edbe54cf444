package sluice

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/limit/redislimit"
)

// TestRedisDenyIsRateLimited is the regression test of defect 5 (issue
// 11): under on_failure: deny a Redis outage refused every request with a
// bare *redislimit.UnavailableError, which matched no sluice sentinel. It
// fails before the fix (errors.Is(err, ErrRateLimited) is false).
func TestRedisDenyIsRateLimited(t *testing.T) {
	cfg := Config{
		// Nothing listens on port 1 of loopback: every call fails at once.
		Redis: &RedisConfig{Addr: "127.0.0.1:1", OnFailure: "deny", Timeout: 50 * time.Millisecond},
		Routes: []Route{{Name: "api", Policy: Policy{
			Limits: []LimitConfig{{Rate: "100/s", Shared: true}},
			Retry:  &RetryConfig{MaxAttempts: 1},
		}}},
	}
	sent := 0
	tr, err := NewTransport(cfg, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent++
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	req, _ := http.NewRequest("GET", "http://api.test/x", nil)
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request sent while Redis is down under on_failure: deny")
	}
	var rl *RateLimitError
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) || !errors.Is(err, redislimit.ErrUnavailable) {
		t.Fatalf("err = %v (%T); want a *RateLimitError matching ErrRateLimited and redislimit.ErrUnavailable", err, err)
	}
	if sent != 0 {
		t.Fatalf("%d requests reached the server", sent)
	}
}
