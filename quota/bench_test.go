package quota

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func BenchmarkParse(b *testing.B) {
	for _, bm := range []struct {
		name string
		h    http.Header
	}{
		{"github", hdr("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4999", "X-RateLimit-Used", "1",
			"X-RateLimit-Reset", epoch(time.Hour), "X-RateLimit-Resource", "core")},
		{"openai", hdr("x-ratelimit-limit-requests", "60", "x-ratelimit-limit-tokens", "150000",
			"x-ratelimit-remaining-requests", "59", "x-ratelimit-remaining-tokens", "149984",
			"x-ratelimit-reset-requests", "1s", "x-ratelimit-reset-tokens", "6m0s")},
		{"ietf", hdr("RateLimit-Policy", `"burst";q=100;w=60,"daily";q=1000;w=86400`,
			"RateLimit", `"burst";r=50;t=30, "daily";r=999;t=3600`)},
		{"none", hdr("Content-Type", "application/json")},
		{"plain", hdr("Content-Type", "application/json", "Content-Length", "1234", "Date", "Mon, 23 Nov 2026 10:00:00 GMT",
			"Server", "nginx", "Cache-Control", "no-cache", "X-Request-Id", "abc123", "Vary", "Accept-Encoding", "Etag", `"x"`)},
	} {
		resp := &http.Response{StatusCode: 200, Header: bm.h, Body: http.NoBody}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Parse(resp, t0, DialectAuto)
			}
		})
	}
}

// BenchmarkAcquire measures the per-request cost of Acquire + done on a
// host with a learned bucket far from exhaustion (BurstFraction 1: no
// spreading, so no waiting).
func BenchmarkAcquire(b *testing.B) {
	now := time.Now()
	tr, _ := NewTracker(TrackerOptions{BurstFraction: 1}) // measure the path, not the pacing
	resp := respAt(now, 200, "X-RateLimit-Limit", "1000000000", "X-RateLimit-Remaining", "1000000000",
		"X-RateLimit-Reset", unix(now.Add(time.Hour)), "X-RateLimit-Resource", "core")
	ctx := context.Background()
	done, _ := tr.Acquire(ctx, "api", Cost{})
	done(resp, nil)
	b.Run("no-response", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			done, err := tr.Acquire(ctx, "api", Cost{})
			if err != nil {
				b.Fatal(err)
			}
			done(nil, nil)
		}
	})
	plain := respAt(now, 200, "Content-Type", "application/json", "Content-Length", "2", "X-Request-Id", "abc")
	b.Run("plain-response", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			done, err := tr.Acquire(ctx, "plain", Cost{})
			if err != nil {
				b.Fatal(err)
			}
			done(plain, nil)
		}
	})
	b.Run("with-response", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			done, err := tr.Acquire(ctx, "api", Cost{})
			if err != nil {
				b.Fatal(err)
			}
			done(resp, nil)
		}
	})
}
