package sluice

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// TestLogsNeverCarryCredentials runs requests that go through every event
// (cache, coalescing, throttles, retries, pauses, exhaustion, breaker) with
// credentials in headers and the query, and scans every log line.
func TestLogsNeverCarryCredentials(t *testing.T) {
	const secret = "s3cr3t-v4lue-xyz"
	synctest.Test(t, func(t *testing.T) {
		p := sluicetest.NewProvider(sluicetest.Options{
			Limit:   sluicetest.TokenBucket(5, 2),
			Dialect: sluicetest.DialectRetryAfter,
			Faults:  sluicetest.Faults{ErrorRatio: 0.2, Seed: 7},
		})
		defer p.Close()
		var logs syncBuffer
		cfg := Config{
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Routes: []Route{{Name: "api", Match: Match{Host: "api.example.com"}, Policy: Policy{
				Cache:   &CacheConfig{TTL: 10 * time.Second, StaleIfError: time.Minute},
				Circuit: &CircuitConfig{ConsecutiveFailures: 3, OpenTimeout: time.Second},
			}}},
		}
		tr := newTestTransport(t, cfg, p)
		urls := []string{
			"https://api.example.com/a?api_key=" + secret,
			"https://api.example.com/b?access_token=" + secret + "&page=2",
			"https://api.example.com/c?key=" + secret,
		}
		hdrs := [][]string{
			{"Authorization", "Bearer " + secret},
			{"X-Api-Key", secret},
			{"X-Auth-Token", secret},
			{"Authorization", "Basic " + secret},
		}
		for i := range 60 {
			do(tr, "GET", urls[i%len(urls)], "", hdrs[i%len(hdrs)]...)
			do(tr, "POST", urls[i%len(urls)], `{"x":1}`, append(hdrs[i%len(hdrs)], "Idempotency-Key", secret)...)
		}
		out := logs.String()
		if strings.Count(out, "\n") < 50 {
			t.Fatalf("only %d log lines; the test must exercise the events", strings.Count(out, "\n"))
		}
		for _, ev := range []string{"retry_scheduled", "rate_limited", "cache_hit"} {
			if !strings.Contains(out, "event="+ev) {
				t.Errorf("no %s event logged", ev)
			}
		}
		for i, line := range strings.Split(out, "\n") {
			if strings.Contains(line, secret) {
				t.Fatalf("log line %d leaks the credential: %s", i, line)
			}
		}
	})
}

var _ http.RoundTripper = (*Transport)(nil)
