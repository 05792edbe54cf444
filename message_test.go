package sluice

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestProviderMessage(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	tests := []struct {
		name, ctype, body, want string
	}{
		{"github", "application/json", `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest"}`, "API rate limit exceeded for user ID 1."},
		{"openai", "application/json", `{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","code":"rate_limit_exceeded"}}`, "Rate limit reached for gpt-4o"},
		{"stripe", "application/json", `{"error":{"type":"invalid_request_error","message":"Too many requests"}}`, "Too many requests"},
		{"plain error string", "application/json", `{"error":"quota exceeded"}`, "quota exceeded"},
		{"errors array", "application/json", `{"errors":[{"message":"Throttled","extensions":{}}]}`, "Throttled"},
		{"text first line", "text/plain", "slow down\nsecond line", "slow down"},
		{"html dropped", "text/html", "<html><body>503</body></html>", ""},
		{"empty", "", "", ""},
		{"json without message", "application/json", `{"ok":false}`, ""},
		{"key redacted", "application/json", `{"error":{"message":"Incorrect API key provided: sk-proj-abcdef1234567890."}}`, "Incorrect API key provided: REDACTED."},
		{"url secret redacted", "text/plain", "see https://api.example.com/x?api_key=s3cr3t now", "see https://api.example.com/x?api_key=REDACTED now"},
		{"bounded", "text/plain", long, strings.Repeat("é", 100) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {tt.ctype}}
			if got := providerMessage(h, []byte(tt.body)); got != tt.want {
				t.Fatalf("providerMessage = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestErrorMessagesSayWhatToDo: the errors a user meets name the route,
// the wait, the bucket, the provider's message and the setting to change
// (before: "gave up after 1 attempt(s) (retry-after too long): upstream
// answered 403" and "would wait 14m9.9s" with no bucket).
func TestErrorMessagesSayWhatToDo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := time.Now().Add(14 * time.Minute).Unix()
		s := &script{answer: func(int, *http.Request) (*http.Response, error) {
			r := reply(403, "Content-Type", "application/json", "X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "0",
				"X-RateLimit-Reset", strconv.FormatInt(reset, 10), "X-RateLimit-Resource", "core")
			r.Body = io.NopCloser(strings.NewReader(`{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest"}`))
			return r, nil
		}}
		c, err := NewClient(Config{Routes: []Route{{Name: "github", Match: Match{Host: "api.github.com"}}}},
			WithBaseURL("https://api.github.com/"), WithBaseTransport(s))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Get(context.Background(), "repos/a/b", nil)
		for _, want := range []string{"route github", "retry-after too long", "the provider asked to wait 14m0s",
			"retry.max_retry_after", "403 Forbidden", `"API rate limit exceeded for user ID 1."`} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
		}
	})
}

// TestQuotaRefusalNamesBucket: a learned quota that would hold a request
// past its deadline names the bucket, host, wait and settings.
func TestQuotaRefusalNamesBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := time.Now().Add(14 * time.Minute).Unix()
		s := &script{answer: func(int, *http.Request) (*http.Response, error) {
			return reply(200, "X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "0",
				"X-RateLimit-Reset", strconv.FormatInt(reset, 10), "X-RateLimit-Resource", "core"), nil
		}}
		tr := newTestTransport(t, Config{Routes: []Route{{Name: "github", Match: Match{Host: "api.github.com"}}}}, s)
		if _, err := do(tr, "GET", "https://api.github.com/a", ""); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.github.com/b", nil)
		_, err := tr.RoundTrip(req)
		var rl *RateLimitError
		if !errors.As(err, &rl) || rl.Reason != "provider quota" {
			t.Fatalf("err = %v, want a provider quota *RateLimitError", err)
		}
		for _, want := range []string{"route github", `bucket "github:core"`, "api.github.com", "wait 14m", "deadline", "quota"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
		}
	})
}

func TestRetryErrorHints(t *testing.T) {
	for reason := range retryHint {
		e := &RetryError{Route: "r", Attempts: 1, Reason: reason, Err: errReset}
		if !strings.Contains(e.Error(), retryHint[reason]) || !strings.Contains(e.Error(), "connection reset") {
			t.Errorf("%s: %q lacks its hint or cause", reason, e.Error())
		}
	}
}
