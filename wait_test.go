package sluice

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A route configured at 50/s keeps sending at >= 49/s after one bare 429
// caused by arrival jitter: the configured rate paces the route, so the 429
// does not switch the host's rate discovery on (which undercut the rate).
func TestConfiguredRateSurvivesJitter429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(n int, _ *http.Request) (*http.Response, error) {
			time.Sleep(5 * time.Millisecond)
			if n == 11 {
				return reply(429), nil
			}
			return reply(200), nil
		}}
		tr := newTestTransport(t, Config{Defaults: Policy{Limits: []LimitConfig{{Rate: "50/s", Burst: 10}}}}, s)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for next.Add(1) <= 200 {
					resp, err := do(tr, "GET", "https://api.example.com/v1/items", "")
					if err != nil {
						t.Errorf("GET: %v", err)
						return
					}
					drainClose(resp)
				}
			})
		}
		wg.Wait()
		// After the burst of 10, 190 more at 50/s take 3.8 s.
		first, last := s.get(10).at, s.get(s.n()-1).at
		if rate := float64(s.n()-11) / last.Sub(first).Seconds(); rate < 49 {
			t.Fatalf("sent at %.1f/s after a jitter 429, want >= 49/s of the configured 50/s", rate)
		}
	})
}

// Issue 11.13: with max_retry_after 2s, a GitHub quota whose reset is 15 s
// away refuses a request on context.Background() at once with a
// *RateLimitError naming the bucket, the wait and max_wait; before, it
// blocked 15 s with nothing logged at the default level.
func TestQuotaWaitPastMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := time.Now().Add(15 * time.Second).Unix()
		s := &script{answer: func(int, *http.Request) (*http.Response, error) {
			return reply(200, "X-Ratelimit-Limit", "60", "X-Ratelimit-Remaining", "0",
				"X-Ratelimit-Reset", itoa(reset), "X-Ratelimit-Resource", "core"), nil
		}}
		tr := newTestTransport(t, Config{Defaults: Policy{Retry: &RetryConfig{MaxRetryAfter: 2 * time.Second}}}, s)
		resp, err := do(tr, "GET", "https://api.github.com/repos/a/b", "")
		if err != nil {
			t.Fatal(err)
		}
		drainClose(resp)
		start := time.Now()
		req, _ := http.NewRequestWithContext(context.Background(), "GET", "https://api.github.com/repos/a/b", nil)
		_, err = tr.RoundTrip(req)
		var rle *RateLimitError
		if !errors.As(err, &rle) || !errors.Is(err, ErrRateLimited) || rle.Ceiling != 2*time.Second || rle.Wait < 10*time.Second {
			t.Fatalf("err = %v, want a *RateLimitError with Ceiling 2s and a wait of about 15s", err)
		}
		if time.Since(start) != 0 {
			t.Errorf("refused after %v, want at once", time.Since(start))
		}
		for _, want := range []string{"github:core", "max_wait", "15s"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
	})
}

// A throttle saying "Retry-After: 1" (whole seconds: perhaps 20 ms rounded
// up) does not make the throttled request sleep the whole second when quota
// learning paces the host: it backs off (at most the second) and the pace
// decides. It slept the full second before.
func TestWholeSecondRetryAfterNotSleptOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(n int, _ *http.Request) (*http.Response, error) {
			if n == 0 {
				return reply(429, "Retry-After", "1"), nil
			}
			return reply(200), nil
		}}
		tr := newTestTransport(t, Config{}, s)
		start := time.Now()
		resp, err := do(tr, "GET", "https://api.example.com/x", "")
		if err != nil {
			t.Fatal(err)
		}
		drainClose(resp)
		if gap := s.get(1).at.Sub(start); gap >= 500*time.Millisecond {
			t.Fatalf("retried after %v, want well under the 1 s Retry-After (backoff, then the learned pace)", gap)
		}
	})
}

// nginx limit_req's 503 page is a throttle: it is retried as one and does
// not open the breaker (5 in a row did, failing 190 of 200 requests of
// bench/goodput's nginx job at once with ErrCircuitOpen).
func TestNginx503IsAThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		page := "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
		s := &script{answer: func(n int, _ *http.Request) (*http.Response, error) {
			if n < 6 {
				r := reply(503, "Content-Type", "text/html")
				r.Body = io.NopCloser(strings.NewReader(page))
				return r, nil
			}
			return reply(200), nil
		}}
		tr := newTestTransport(t, Config{}, s)
		if resp, err := do(tr, "GET", "https://api.example.com/x", ""); err == nil {
			drainClose(resp) // five 503s: retries exhausted
		}
		resp, err := do(tr, "GET", "https://api.example.com/x", "")
		if err != nil {
			t.Fatalf("GET after five nginx 503s: %v; want it sent (the breaker closed) and retried to a 200", err)
		}
		drainClose(resp)
	})
}

// The quota block and max_wait load from YAML; bad values name their field.
func TestQuotaConfigYAML(t *testing.T) {
	cfg, err := ParseConfig([]byte("quota:\n  burst_fraction: 0\nroutes:\n  - name: gh\n    match: {host: api.github.com}\n    max_wait: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Quota.BurstFraction; f == nil || *f != 0 {
		t.Errorf("burst_fraction: 0 loaded as %v, want an explicit 0 (spread)", f)
	}
	if cfg.Routes[0].MaxWait != 2*time.Minute {
		t.Errorf("max_wait = %v, want 2m", cfg.Routes[0].MaxWait)
	}
	for _, tt := range []struct{ yaml, field string }{
		{"quota:\n  burst_fraction: 1.5\n", "quota.burst_fraction"},
		{"defaults:\n  max_wait: -1s\n", "defaults.max_wait"},
	} {
		if _, err := ParseConfig([]byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%q: err = %v, want one naming %s", tt.yaml, err, tt.field)
		}
	}
}
