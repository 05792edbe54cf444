package sluice

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestBreakerTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var healthy bool
		var mu sync.Mutex
		s := &script{answer: func(int, *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			if healthy {
				return reply(200), nil
			}
			return reply(503), nil
		}}
		var logs syncBuffer
		cfg := Config{
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Defaults: Policy{
				Retry:   &RetryConfig{MaxAttempts: 1},
				Circuit: &CircuitConfig{ConsecutiveFailures: 3, OpenTimeout: 10 * time.Second},
			},
		}
		tr := newTestTransport(t, cfg, s)
		const u = "https://api.example.com/x"
		breaker := func() string {
			st, _ := tr.Stats().Route("default:api.example.com")
			return st.Breaker
		}
		for i := range 3 {
			if _, err := do(tr, "GET", u, ""); errors.Is(err, ErrCircuitOpen) {
				t.Fatalf("request %d: circuit open too early", i)
			}
		}
		if got := breaker(); got != "open" {
			t.Fatalf("after 3 failures breaker = %q, want open", got)
		}
		_, err := do(tr, "GET", u, "")
		if !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("err = %v, want ErrCircuitOpen", err)
		}
		if s.n() != 3 {
			t.Fatalf("an open breaker let a request upstream (%d sent)", s.n())
		}
		mu.Lock()
		healthy = true
		mu.Unlock()
		time.Sleep(10*time.Second + time.Millisecond)
		if got := breaker(); got != "half-open" {
			t.Fatalf("after the open timeout breaker = %q, want half-open", got)
		}
		if resp, err := do(tr, "GET", u, ""); err != nil || resp.StatusCode != 200 {
			t.Fatalf("probe: %v, %v", resp, err)
		}
		if got := breaker(); got != "closed" {
			t.Fatalf("after a good probe breaker = %q, want closed", got)
		}
		for _, want := range []string{"to=open", "to=half-open", "to=closed"} {
			if !strings.Contains(logs.String(), "event=circuit_state") || !strings.Contains(logs.String(), want) {
				t.Fatalf("no circuit_state event with %s in:\n%s", want, logs.String())
			}
		}
	})
}

func TestBreakerIgnores429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(int, *http.Request) (*http.Response, error) { return reply(429), nil }}
		cfg := Config{Defaults: Policy{
			Retry:   &RetryConfig{MaxAttempts: 1},
			Circuit: &CircuitConfig{ConsecutiveFailures: 2},
		}}
		tr := newTestTransport(t, cfg, s)
		for range 5 {
			_, err := do(tr, "GET", "https://api.example.com/x", "")
			if errors.Is(err, ErrCircuitOpen) {
				t.Fatal("429s opened the breaker; they are flow control, not failures")
			}
		}
	})
}

func TestBreaker500Counts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(int, *http.Request) (*http.Response, error) { return reply(500), nil }}
		cfg := Config{Defaults: Policy{Circuit: &CircuitConfig{ConsecutiveFailures: 2}}}
		tr := newTestTransport(t, cfg, s)
		do(tr, "GET", "https://api.example.com/x", "")
		do(tr, "GET", "https://api.example.com/x", "")
		if _, err := do(tr, "GET", "https://api.example.com/x", ""); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("err = %v; two 500s should open a breaker set to 2 failures", err)
		}
	})
}
