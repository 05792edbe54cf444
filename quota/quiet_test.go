package quota

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestQuiet(t *testing.T) {
	tests := []struct {
		name   string
		status int
		h      http.Header
		d      Dialect
		want   bool
	}{
		{"plain 200", 200, hdr("Content-Type", "application/json", "Date", "Mon, 23 Nov 2026 10:00:00 GMT", "Age", "3"), DialectAuto, true},
		{"no header", 204, http.Header{}, DialectAuto, true},
		{"nil header", 200, nil, DialectGitHub, true},
		{"redirect", 302, hdr("Location", "/x"), DialectAuto, true},
		{"404", 404, hdr("Content-Type", "text/plain"), DialectAuto, false},
		{"429 bare", 429, http.Header{}, DialectNone, false},
		{"shopify explicit", 200, hdr("Content-Type", "application/json"), DialectShopify, false},
		{"github", 200, hdr("X-RateLimit-Remaining", "1"), DialectAuto, false},
		{"lower-case raw key", 200, http.Header{"x-ratelimit-remaining": {"1"}}, DialectAuto, false},
		{"openai", 200, hdr("x-ratelimit-reset-tokens", "1s"), DialectAuto, false},
		{"ietf", 200, hdr("RateLimit", `"a";r=1`), DialectAuto, false},
		{"ietf beta", 200, hdr("Beta-RateLimit-Policy", `"a";q=1`), DialectAuto, false},
		{"anthropic", 200, hdr("anthropic-ratelimit-requests-limit", "5"), DialectAuto, false},
		{"x", 200, hdr("x-rate-limit-limit", "5"), DialectAuto, false},
		{"x 24h", 200, hdr("x-app-limit-24hour-limit", "5"), DialectAuto, false},
		{"shopify", 200, hdr("X-Shopify-Shop-Api-Call-Limit", "1/40"), DialectAuto, false},
		{"azure", 200, hdr("x-ms-ratelimit-remaining-subscription-reads", "11999"), DialectAuto, false},
		{"azure retry", 200, hdr("x-ms-retry-after-ms", "10"), DialectAuto, false},
		{"retry-after on 200", 200, hdr("Retry-After", "1"), DialectAuto, false},
		{"retry-after-ms", 200, hdr("retry-after-ms", "10"), DialectAuto, false},
		{"envoy", 200, hdr("X-Envoy-Ratelimited", "true"), DialectAuto, false},
		{"should-retry", 200, hdr("X-Should-Retry", "false"), DialectAuto, false},
		{"stripe", 200, hdr("Stripe-Should-Retry", "false"), DialectAuto, false},
		{"gitlab", 200, hdr("RateLimit-Observed", "1"), DialectAuto, false},
		{"x-request-id", 200, hdr("X-Request-Id", "abc", "Server", "nginx", "Set-Cookie", "a=b"), DialectAuto, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quiet(tt.status, tt.h, tt.d); got != tt.want {
				t.Fatalf("quiet = %v, want %v", got, tt.want)
			}
			if tt.want {
				got := parse(tt.status, tt.h, nil, "/", t0, tt.d)
				if full := parseFull(tt.status, tt.h, nil, "/", t0, tt.d); !sameSignal(got, full) {
					t.Fatalf("fast path %+v, full reading %+v", got, full)
				}
			}
		})
	}
}

// sameSignal compares two Signals, taking nil and empty Observations alike.
func sameSignal(a, b Signal) bool {
	if len(a.Observations) == 0 && len(b.Observations) == 0 {
		a.Observations, b.Observations = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// FuzzQuiet checks that the fast path never hides what the full reading
// finds: whenever quiet says a response says nothing, parseFull agrees.
func FuzzQuiet(f *testing.F) {
	f.Add(200, "Content-Type", "text/plain", "X-Request-Id", "1", "")
	f.Add(200, "X-RateLimit-Remaining", "1", "", "", "")
	f.Add(302, "Location", "/", "Age", "3", "")
	f.Add(200, "Date", "Mon, 23 Nov 2026 10:00:00 GMT", "Retry-After", "5", "")
	f.Fuzz(func(t *testing.T, status int, k1, v1, k2, v2, body string) {
		for _, h := range []http.Header{{}, {}} {
			if len(h) == 0 && k1 != "" {
				h.Add(k1, v1)
				h.Add(k2, v2)
			}
			h[k1] = append(h[k1], v1) // raw, uncanonicalised keys too
			for _, d := range dialects {
				if !quiet(status, h, d) {
					continue
				}
				// Parse reads no body of a quiet response.
				got := Parse(&http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}, t0, d)
				if full := parseFull(status, h, nil, "/", t0, d); !sameSignal(got, full) {
					t.Fatalf("%s %d %v: fast path %+v, full reading %+v", d, status, h, got, full)
				}
			}
		}
	})
}
