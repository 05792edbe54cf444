package sluice

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestGitHub403IsAThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := time.Now().Add(30 * time.Second).Unix()
		s := &script{}
		s.answer = func(n int, _ *http.Request) (*http.Response, error) {
			if n == 0 {
				r := reply(403, "X-Ratelimit-Limit", "60", "X-Ratelimit-Remaining", "0",
					"X-Ratelimit-Reset", itoa(reset), "X-Ratelimit-Resource", "core")
				r.Body = io.NopCloser(strings.NewReader(`{"message":"API rate limit exceeded for 1.2.3.4."}`))
				return r, nil
			}
			return reply(200, "X-Ratelimit-Limit", "60", "X-Ratelimit-Remaining", "59", "X-Ratelimit-Reset", itoa(reset+3600)), nil
		}
		tr := newTestTransport(t, Config{}, s)
		start := time.Now()
		resp, err := do(tr, "GET", "https://api.github.com/repos/a/b", "")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("got %v, %v; want the 403 retried after the reset", resp, err)
		}
		if waited := s.get(1).at.Sub(start); waited < 29*time.Second || waited > 35*time.Second {
			t.Fatalf("retried after %v, want about 30s (x-ratelimit-reset)", waited)
		}
	})
}

func TestInsufficientQuotaNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(int, *http.Request) (*http.Response, error) {
			r := reply(429, "Content-Type", "application/json")
			r.Body = io.NopCloser(strings.NewReader(`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`))
			return r, nil
		}}
		tr := newTestTransport(t, Config{}, s)
		req, _ := http.NewRequest("POST", "https://api.openai.com/v1/chat/completions", strings.NewReader(`{}`))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("err = %v; want the 429 itself, not retried", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if s.n() != 1 || !strings.Contains(string(body), "insufficient_quota") {
			t.Fatalf("upstream saw %d attempts, body %q; want 1 attempt and the body intact", s.n(), body)
		}
		if errors.Is(err, ErrRetriesExhausted) {
			t.Fatal("insufficient_quota must not count as retries exhausted")
		}
	})
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
