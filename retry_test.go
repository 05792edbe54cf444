package sluice

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/retry"
)

func newTestTransport(t *testing.T, cfg Config, base http.RoundTripper) *Transport {
	t.Helper()
	tr, err := NewTransport(cfg, base)
	if err != nil {
		t.Fatalf("NewTransport: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestRetryClassification(t *testing.T) {
	const u = "https://api.example.com/v1/things"
	const all = retry.DefaultMaxAttempts // a retried request makes every default attempt
	tests := []struct {
		name     string
		method   string
		hdr      []string
		status   int // 0 = connection reset after the request was written
		attempts int
	}{
		{"GET 503 retried", "GET", nil, 503, all},
		{"GET 502 retried", "GET", nil, 502, all},
		{"GET 504 retried", "GET", nil, 504, all},
		{"GET 429 retried", "GET", nil, 429, all},
		{"GET reset retried", "GET", nil, 0, all},
		{"GET 500 not retried", "GET", nil, 500, 1},
		{"GET 501 not retried", "GET", nil, 501, 1},
		{"GET 404 not retried", "GET", nil, 404, 1},
		{"GET 400 not retried", "GET", nil, 400, 1},
		{"GET 200 once", "GET", nil, 200, 1},
		{"HEAD 503 retried", "HEAD", nil, 503, all},
		{"PUT 503 retried", "PUT", nil, 503, all},
		{"DELETE 503 retried", "DELETE", nil, 503, all},
		{"OPTIONS 503 retried", "OPTIONS", nil, 503, all},
		{"POST 503 not retried", "POST", nil, 503, 1},
		{"POST reset not retried", "POST", nil, 0, 1},
		{"PATCH 503 not retried", "PATCH", nil, 503, 1},
		{"POST 429 retried", "POST", nil, 429, all},
		{"POST with Idempotency-Key 503 retried", "POST", []string{"Idempotency-Key", "k1"}, 503, all},
		{"PATCH with Idempotency-Key reset retried", "PATCH", []string{"Idempotency-Key", "k1"}, 0, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{answer: func(int, *http.Request) (*http.Response, error) {
					if tt.status == 0 {
						return nil, errReset
					}
					return reply(tt.status), nil
				}}
				tr := newTestTransport(t, Config{}, s)
				body := ""
				if tt.method == "POST" || tt.method == "PUT" || tt.method == "PATCH" {
					body = `{"a":1}`
				}
				_, _ = do(tr, tt.method, u, body, tt.hdr...)
				if got := s.n(); got != tt.attempts {
					t.Fatalf("upstream saw %d attempts, want %d", got, tt.attempts)
				}
			})
		})
	}
}

func TestRetryOptInNonIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: sequence(503, 503)}
		cfg := Config{Routes: []Route{{Name: "pay", Match: Match{Host: "api.example.com"},
			Policy: Policy{Retry: &RetryConfig{NonIdempotent: true}}}}}
		tr := newTestTransport(t, cfg, s)
		resp, err := do(tr, "POST", "https://api.example.com/charge", `{"amount":1}`)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("got %v, %v; want 200 after two retries", resp, err)
		}
		if s.n() != 3 {
			t.Fatalf("upstream saw %d attempts, want 3", s.n())
		}
	})
}

func TestRetriesExhaustedError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: sequence(503, 503, 503, 503, 503, 503)}
		tr := newTestTransport(t, Config{}, s)
		resp, err := do(tr, "GET", "https://api.example.com/x", "")
		if err != nil || resp.StatusCode != 503 {
			t.Fatalf("got %v, %v; want the last 503 and no error", resp, err)
		}
		if o := OutcomeOf(resp); o.Attempts != retry.DefaultMaxAttempts || o.GaveUp != "max attempts" {
			t.Fatalf("outcome = %+v, want 5 attempts, gave up on max attempts", o)
		}
		st, _ := tr.Stats().Route("default:api.example.com")
		if st.Failures["retries_exhausted"] != 1 {
			t.Fatalf("Stats.Failures = %v, want retries_exhausted 1", st.Failures)
		}
	})
}

func TestBodyReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: sequence(503, 0)}
		tr := newTestTransport(t, Config{}, s)
		const payload = `{"order":42,"items":["a","b"]}`
		resp, err := do(tr, "PUT", "https://api.example.com/orders/42", payload)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("got %v, %v", resp, err)
		}
		if s.n() != 3 {
			t.Fatalf("attempts = %d, want 3", s.n())
		}
		for i := range 3 {
			if got := s.get(i).body; got != payload {
				t.Fatalf("attempt %d sent body %q, want %q", i, got, payload)
			}
		}
	})
}

func TestRetryAfterForms(t *testing.T) {
	tests := []struct {
		name string
		hdr  func(now time.Time) []string
		want time.Duration
	}{
		{"seconds", func(time.Time) []string { return []string{"Retry-After", "3"} }, 3 * time.Second},
		{"fractional", func(time.Time) []string { return []string{"Retry-After", "1.5"} }, 1500 * time.Millisecond},
		{"http-date", func(now time.Time) []string {
			return []string{"Retry-After", now.Add(4 * time.Second).UTC().Format(http.TimeFormat), "Date", now.UTC().Format(http.TimeFormat)}
		}, 4 * time.Second},
		{"http-date with skewed local clock", func(now time.Time) []string {
			// The server's clock is an hour ahead; the wait is still 2s.
			srv := now.Add(time.Hour)
			return []string{"Retry-After", srv.Add(2 * time.Second).UTC().Format(http.TimeFormat), "Date", srv.UTC().Format(http.TimeFormat)}
		}, 2 * time.Second},
		{"retry-after-ms", func(time.Time) []string { return []string{"Retry-After-Ms", "750"} }, 750 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{}
				s.answer = func(n int, _ *http.Request) (*http.Response, error) {
					if n == 0 {
						return reply(429, tt.hdr(time.Now())...), nil
					}
					return reply(200), nil
				}
				tr := newTestTransport(t, Config{}, s)
				start := time.Now()
				if _, err := do(tr, "GET", "https://api.example.com/x", ""); err != nil {
					t.Fatal(err)
				}
				gap := s.get(1).at.Sub(start)
				// The route resumes within 10% (at most 250ms) after the wait.
				if gap < tt.want || gap > tt.want+tt.want/10+time.Millisecond {
					t.Fatalf("retried after %v, want %v (+10%% spread)", gap, tt.want)
				}
			})
		})
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(int, *http.Request) (*http.Response, error) {
			return reply(429, "Retry-After", "3600"), nil
		}}
		cfg := Config{Defaults: Policy{Retry: &RetryConfig{MaxRetryAfter: time.Minute}}}
		tr := newTestTransport(t, cfg, s)
		start := time.Now()
		resp, err := do(tr, "GET", "https://api.example.com/x", "")
		if err != nil || resp.StatusCode != 429 || OutcomeOf(resp).GaveUp != "retry-after too long" {
			t.Fatalf("got %v, %v; want the 429, gave up: retry-after too long", resp, err)
		}
		if time.Since(start) != 0 || s.n() != 1 {
			t.Fatalf("waited %v and sent %d; want an immediate answer after 1 attempt", time.Since(start), s.n())
		}
	})
}

func TestRetryStopsAtDeadline(t *testing.T) {
	// Coalesced GETs run in a call shared by the callers; it keeps the
	// first caller's deadline.
	for _, coalesce := range []bool{false, true} {
		t.Run(fmt.Sprintf("coalesce=%v", coalesce), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{answer: func(int, *http.Request) (*http.Response, error) {
					return reply(503, "Retry-After", "10"), nil
				}}
				tr := newTestTransport(t, Config{Defaults: Policy{Coalesce: &coalesce}}, s)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/x", nil)
				start := time.Now()
				resp, err := tr.RoundTrip(req)
				if err != nil || resp.StatusCode != 503 || OutcomeOf(resp).GaveUp != "deadline" {
					t.Fatalf("got %v, %v; want the 503, gave up by the deadline", resp, err)
				}
				resp.Body.Close()
				if time.Since(start) != 0 {
					t.Fatalf("slept %v before giving up; want no sleep", time.Since(start))
				}
			})
		})
	}
}

func TestBudgetStopsStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(int, *http.Request) (*http.Response, error) { return reply(503), nil }}
		cfg := Config{Defaults: Policy{
			Retry: &RetryConfig{MaxAttempts: 5,
				Budget: &BudgetConfig{Ratio: 0.1, MinPerSecond: 0.5, TTL: 10 * time.Second}},
			Circuit: &CircuitConfig{Disabled: true},
		}}
		tr := newTestTransport(t, cfg, s)
		const n = 200
		for range n {
			_, _ = do(tr, "GET", "https://api.example.com/x", "")
		}
		// Without a budget: 4 retries each = 800. With it: 10% of 200 plus a
		// floor of 0.5/s over 10s.
		retries := s.n() - n
		if retries > n/10+5 {
			t.Fatalf("%d retries for %d failing requests; budget allows at most %d", retries, n, n/10+5)
		}
		st, _ := tr.Stats().Route("default:api.example.com")
		if st.Retries != int64(retries) {
			t.Fatalf("Stats.Retries = %d, upstream saw %d", st.Retries, retries)
		}
	})
}

func TestRoutePausesOn429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{}
		start := time.Now()
		s.answer = func(n int, _ *http.Request) (*http.Response, error) {
			if n == 0 {
				return reply(429, "Retry-After", "5"), nil
			}
			return reply(200), nil
		}
		tr := newTestTransport(t, Config{}, s)
		done := make(chan error, 6)
		go func() { _, err := do(tr, "GET", "https://api.example.com/a", ""); done <- err }()
		synctest.Wait() // the first request has its 429 and waits out the pause
		for i := range 5 {
			go func() { _, err := do(tr, "GET", fmt.Sprintf("https://api.example.com/b/%d", i), ""); done <- err }()
		}
		for range 6 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if s.n() != 7 {
			t.Fatalf("upstream saw %d requests, want 7 (one 429, then 6 after the pause)", s.n())
		}
		for i := 1; i < s.n(); i++ {
			if at := s.get(i).at.Sub(start); at < 5*time.Second {
				t.Fatalf("request %d went upstream at %v, during the 5s pause", i, at)
			}
		}
	})
}
