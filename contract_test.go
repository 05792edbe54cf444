package sluice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/retry"
)

// numbered answers every attempt with status and a body naming the
// attempt, so a test can tell which attempt's response it got.
func numbered(status int, kv ...string) func(int, *http.Request) (*http.Response, error) {
	return func(n int, _ *http.Request) (*http.Response, error) {
		r := reply(status, kv...)
		r.Body = io.NopCloser(strings.NewReader(fmt.Sprintf(`{"attempt":%d}`, n+1)))
		return r, nil
	}
}

// TestContractLastResponse is net/http's RoundTripper contract under
// retries: for every status sluice may retry, on every method, when the
// attempts end on that status the caller gets the last response with its
// body, no error, and the outcome in its headers.
func TestContractLastResponse(t *testing.T) {
	github403 := []string{"X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1"}
	statuses := []struct {
		name   string
		status int
		hdr    []string
	}{
		{"429", 429, nil},
		{"502", 502, nil},
		{"503", 503, nil},
		{"504", 504, nil},
		{"429 Retry-After 1", 429, []string{"Retry-After", "1"}},
		{"403 GitHub quota spent", 403, github403},
	}
	methods := []string{"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST", "PATCH"}
	for _, st := range statuses {
		for _, method := range methods {
			t.Run(st.name+"/"+method, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					s := &script{answer: numbered(st.status, st.hdr...)}
					tr := newTestTransport(t, Config{}, s)
					var body io.Reader
					if method == "PUT" || method == "POST" || method == "PATCH" {
						body = strings.NewReader(`{"a":1}`)
					}
					req, _ := http.NewRequest(method, "https://api.github.com/x", body)
					resp, err := tr.RoundTrip(req)
					if err != nil {
						t.Fatalf("err = %v; want the %d response", err, st.status)
					}
					got, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr != nil || resp.StatusCode != st.status {
						t.Fatalf("status %d, body read error %v; want %d, readable", resp.StatusCode, rerr, st.status)
					}
					want := fmt.Sprintf(`{"attempt":%d}`, s.n())
					if string(got) != want {
						t.Fatalf("body %q, want the last attempt's %q", got, want)
					}
					o := OutcomeOf(resp)
					if o.Attempts != s.n() || o.GaveUp == "" {
						t.Fatalf("outcome %+v; want %d attempts and a reason", o, s.n())
					}
				})
			})
		}
	}
}

// TestContractEdges covers the other ways retrying ends on a response:
// max_attempts 1, a Retry-After longer than max_retry_after, a deadline
// too near, the budget, a body that cannot be replayed, and a retry the
// route's own limit refuses (the previous response comes back).
func TestContractEdges(t *testing.T) {
	one := 1
	tests := []struct {
		name     string
		cfg      Config
		answer   func(int, *http.Request) (*http.Response, error)
		body     io.Reader // sent without GetBody when set
		timeout  time.Duration
		attempts int
		gaveUp   string
	}{
		{"max_attempts 1", Config{Defaults: Policy{Retry: &RetryConfig{MaxAttempts: one}}},
			numbered(503), nil, 0, 1, "max attempts"},
		{"retry-after too long", Config{Defaults: Policy{Retry: &RetryConfig{MaxRetryAfter: time.Minute}}},
			numbered(429, "Retry-After", "3600"), nil, 0, 1, "retry-after too long"},
		{"deadline", Config{}, numbered(503, "Retry-After", "10"), nil, 5 * time.Second, 1, "deadline"},
		{"body not replayable", Config{}, numbered(503), io.MultiReader(strings.NewReader("x")), 0, 1, "body not replayable"},
		{"POST not idempotent", Config{}, numbered(503), strings.NewReader("x"), 0, 1, "not idempotent"},
		{"retry refused by the route's limit", Config{Defaults: Policy{Limits: []LimitConfig{{Rate: "1/min", Burst: 1}}}},
			numbered(503), nil, 5 * time.Second, 1, "rate limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{answer: tt.answer}
				tr := newTestTransport(t, tt.cfg, s)
				ctx := context.Background()
				if tt.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				method := "GET"
				if tt.body != nil {
					method = "POST"
					if tt.gaveUp == "body not replayable" {
						method = "PUT"
					}
				}
				var out Outcome
				req, _ := http.NewRequestWithContext(WithOutcome(ctx, &out), method, "https://api.example.com/x", tt.body)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("err = %v; want the response", err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf(`{"attempt":%d}`, tt.attempts); string(got) != want || s.n() != tt.attempts {
					t.Fatalf("body %q after %d attempts; want %q after %d", got, s.n(), want, tt.attempts)
				}
				hdr := OutcomeOf(resp)
				hdr.ServerWait = out.ServerWait // recorded only through the context
				if out.Attempts != tt.attempts || out.GaveUp != tt.gaveUp || hdr != out {
					t.Fatalf("outcome %+v (headers %+v); want %d attempts, gave up: %s", out, OutcomeOf(resp), tt.attempts, tt.gaveUp)
				}
			})
		})
	}
}

// TestContractTransportErrors: an attempt that got no response ends in a
// typed error wrapping the cause, never the raw transport error (fails
// before the fix: a POST reset came back as the bare net error).
func TestContractTransportErrors(t *testing.T) {
	tests := []struct {
		name   string
		method string
		body   io.Reader
		reason string
		n      int
	}{
		{"GET reset, attempts spent", "GET", nil, "max attempts", retry.DefaultMaxAttempts},
		{"POST reset, not idempotent", "POST", strings.NewReader("x"), "not idempotent", 1},
		{"PATCH reset, not idempotent", "PATCH", strings.NewReader("x"), "not idempotent", 1},
		{"PUT reset, body not replayable", "PUT", io.MultiReader(strings.NewReader("x")), "body not replayable", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{answer: func(int, *http.Request) (*http.Response, error) { return nil, errReset }}
				tr := newTestTransport(t, Config{}, s)
				var out Outcome
				req, _ := http.NewRequestWithContext(WithOutcome(context.Background(), &out), tt.method, "https://api.example.com/x", tt.body)
				resp, err := tr.RoundTrip(req)
				var re *RetryError
				if resp != nil || !errors.As(err, &re) || re.Reason != tt.reason || !errors.Is(err, ErrRetriesExhausted) {
					t.Fatalf("got %v, %v; want a *RetryError (%s)", resp, err, tt.reason)
				}
				if !errors.Is(err, errReset) || re.Attempts != tt.n || s.n() != tt.n {
					t.Fatalf("err %v after %d attempts; want it to wrap the reset after %d", err, s.n(), tt.n)
				}
				if out.Attempts != tt.n || out.GaveUp != tt.reason {
					t.Fatalf("outcome %+v, want %d attempts, %s", out, tt.n, tt.reason)
				}
			})
		})
	}
}

// TestClientGaveUpErrors: Client callers still get the sentinels, with the
// Response by default and without it under WithRetryErrors.
func TestClientGaveUpErrors(t *testing.T) {
	for _, errOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("WithRetryErrors=%v", errOnly), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{answer: numbered(503)}
				opts := []Option{WithBaseURL("https://api.example.com/"), WithBaseTransport(s)}
				if errOnly {
					opts = append(opts, WithRetryErrors())
				}
				c, err := NewClient(Config{Routes: []Route{{Name: "api", Match: Match{Host: "api.example.com"}}}}, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				resp, err := c.Get(context.Background(), "x", nil)
				var re *RetryError
				var se *StatusError
				if !errors.Is(err, ErrRetriesExhausted) || !errors.As(err, &re) || !errors.As(err, &se) {
					t.Fatalf("err = %v; want a *RetryError wrapping a *StatusError", err)
				}
				if re.Route != "api" || re.Attempts != retry.DefaultMaxAttempts || re.Reason != "max attempts" || se.StatusCode != 503 || string(se.Body) != `{"attempt":5}` {
					t.Fatalf("RetryError %+v, StatusError %d %q", re, se.StatusCode, se.Body)
				}
				if errOnly != (resp == nil) {
					t.Fatalf("resp = %v; want nil only with WithRetryErrors", resp)
				}
				if resp != nil && (resp.Attempts != retry.DefaultMaxAttempts || resp.GaveUp != "max attempts" || string(resp.Body) != `{"attempt":5}`) {
					t.Fatalf("Response %+v", resp)
				}
			})
		})
	}
}

// TestCacheHitMarkers: a cache hit carries X-From-Cache: 1 (go-github then
// leaves its rate view alone) and none of the outcome headers the stored
// response had when it went upstream (fails before the fix: no
// X-From-Cache).
func TestCacheHitMarkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: sequence(503)}
		cfg := Config{Routes: []Route{{Name: "api", Match: Match{Host: "api.example.com"},
			Policy: Policy{Cache: &CacheConfig{TTL: time.Minute}}}}}
		tr := newTestTransport(t, cfg, s)
		first, err := do(tr, "GET", "https://api.example.com/x", "")
		if err != nil || first.Header.Get(AttemptsHeader) != "2" || first.Header.Get(FromCacheHeader) != "" {
			t.Fatalf("first: %v, %v, header %v; want 200 after 2 attempts, not from cache", first, err, first.Header)
		}
		var out Outcome
		req, _ := http.NewRequestWithContext(WithOutcome(context.Background(), &out), "GET", "https://api.example.com/x", nil)
		hit, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		hit.Body.Close()
		if hit.Header.Get(FromCacheHeader) != "1" || hit.Header.Get(AttemptsHeader) != "" || hit.Header.Get(WaitedHeader) != "" {
			t.Fatalf("hit header %v; want X-From-Cache: 1 and no outcome headers", hit.Header)
		}
		if !out.FromCache || out.Attempts != 0 || s.n() != 2 {
			t.Fatalf("outcome %+v after %d upstream calls; want from cache, 0 attempts, 2 calls", out, s.n())
		}
	})
}

// TestOutcomeCoalescedError: a request that joined another's call and got
// its error still learns the attempts from WithOutcome (fails before: 0).
func TestOutcomeCoalescedError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := &script{answer: func(n int, _ *http.Request) (*http.Response, error) {
			if n == 0 {
				<-release
			}
			return nil, errReset
		}}
		on := true
		tr := newTestTransport(t, Config{Defaults: Policy{Coalesce: &on}}, s)
		outs := make([]Outcome, 2)
		errs := make(chan error, 2)
		for i := range outs {
			go func() {
				req, _ := http.NewRequestWithContext(WithOutcome(context.Background(), &outs[i]), "GET", "https://api.example.com/x", nil)
				_, err := tr.RoundTrip(req)
				errs <- err
			}()
			synctest.Wait()
		}
		close(release)
		for range outs {
			if err := <-errs; !errors.Is(err, ErrRetriesExhausted) {
				t.Fatalf("err = %v, want ErrRetriesExhausted", err)
			}
		}
		if s.n() != 5 {
			t.Fatalf("upstream saw %d attempts, want 5 (one shared call, the default max_attempts)", s.n())
		}
		for i, o := range outs {
			if o.Attempts != 5 || o.GaveUp != "max attempts" {
				t.Errorf("caller %d: outcome %+v, want 5 attempts, max attempts", i, o)
			}
		}
	})
}
