package quota

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// checkSignal fails t when s breaks a bound Parse promises.
func checkSignal(t *testing.T, s Signal, now time.Time) {
	t.Helper()
	if s.RetryAfter < 0 || s.RetryAfter > MaxWait || s.Hint < 0 || s.Hint > MaxWait {
		t.Fatalf("wait out of bounds: %+v", s)
	}
	for _, o := range s.Observations {
		for _, v := range []float64{o.Limit, o.Remaining} {
			if math.IsNaN(v) || v != Unknown && (v < 0 || v > MaxQuota) {
				t.Fatalf("count out of bounds: %+v", o)
			}
		}
		if o.Limit >= 0 && o.Remaining > o.Limit {
			t.Fatalf("remaining above limit: %+v", o)
		}
		if !o.Reset.IsZero() && (o.Reset.Before(now) || o.Reset.Sub(now) > MaxWait) {
			t.Fatalf("reset out of bounds: %+v", o)
		}
		if o.Window < 0 || o.Window > MaxWait {
			t.Fatalf("window out of bounds: %+v", o)
		}
	}
	if d, ok := s.Wait(now); ok && (d < 0 || d > MaxWait) {
		t.Fatalf("Wait = %v", d)
	}
}

// FuzzParse feeds arbitrary header values, status and body to every
// dialect.
func FuzzParse(f *testing.F) {
	f.Add(429, "Retry-After", "2.0", "", "", "")
	f.Add(200, "RateLimit", `"burst";r=50;t=30`, "RateLimit-Policy", `"burst";q=100;w=60`, "")
	f.Add(200, "RateLimit", "limit=100, remaining=50, reset=5", "RateLimit-Policy", "100;w=10", "")
	f.Add(403, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1795428000", `{"documentation_url":"#secondary-rate-limits"}`)
	f.Add(429, "x-ratelimit-reset-tokens", "6m0s", "x-ratelimit-remaining-tokens", "0", `{"error":{"message":"try again in 1.2s"}}`)
	f.Add(200, "anthropic-ratelimit-tokens-reset", "2025-08-21T12:40:59Z", "anthropic-ratelimit-tokens-limit", "10", "")
	f.Add(429, "X-RateLimit-Bucket", "abc", "X-RateLimit-Reset-After", "64.57", `{"retry_after":64.57,"global":true}`)
	f.Add(200, "X-Shopify-Shop-Api-Call-Limit", "32/40", "", "", "")
	f.Add(200, "x-ms-ratelimit-remaining-resource", "Microsoft.Compute/GetVMScaleSet3Min;197", "", "", "")
	f.Add(200, "X-Ratelimit-Used", "1", "X-Ratelimit-Remaining", "99.0", "")
	f.Add(503, "Date", "Mon, 23 Nov 2026 10:00:00 GMT", "Retry-After", "Fri, 31 Dec 1999 23:59:59 GMT", "<center>nginx</center>")
	f.Fuzz(func(t *testing.T, status int, k1, v1, k2, v2, body string) {
		h := http.Header{}
		h.Add(k1, v1)
		h.Add(k2, v2)
		h.Add("Date", "Mon, 23 Nov 2026 10:00:00 GMT")
		for _, d := range dialects {
			checkSignal(t, parse(status, h, []byte(body), "/channels/1/x", t0, d), t0)
		}
	})
}

// FuzzParseHeaders feeds one value to every header name a dialect reads.
func FuzzParseHeaders(f *testing.F) {
	for _, v := range []string{"0", "-1", "99.0", "1795428000.25", "6m0s", "32/40", `"a";r=1;t=2`, "limit=1, remaining=0", "1e9", "NaN"} {
		f.Add(v)
	}
	names := []string{"Retry-After", "Retry-After-Ms", "X-Ms-Retry-After-Ms", "Ratelimit", "Ratelimit-Policy",
		"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset", "Ratelimit-Resettime", "X-Ratelimit-Limit",
		"X-Ratelimit-Remaining", "X-Ratelimit-Reset", "X-Ratelimit-Used", "X-Ratelimit-Resource", "X-Ratelimit-Reset-After",
		"X-Ratelimit-Bucket", "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens",
		"Anthropic-Ratelimit-Tokens-Limit", "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset",
		"X-Rate-Limit-Reset", "X-Shopify-Shop-Api-Call-Limit", "X-Ms-Ratelimit-Remaining-Resource", "Date", "Age"}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		for _, n := range names {
			h.Set(n, v)
		}
		for _, d := range dialects {
			checkSignal(t, parse(429, h, []byte(v), v, t0, d), t0)
		}
	})
}

// FuzzParseNum checks parseNum against its grammar: it accepts only
// finite plain decimals.
func FuzzParseNum(f *testing.F) {
	for _, s := range []string{"64.57", "-1", "+3", ".5", "1e9", "0x10", "NaN", "Inf", "1_000", "", "5.", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseNum(s)
		if !ok {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("parseNum(%q) = %v", s, v)
		}
		if strings.ContainsAny(s, "eExXnNiI_") {
			t.Fatalf("parseNum(%q) accepted a non-decimal", s)
		}
	})
}

// FuzzGoDuration checks parseGoDuration's bounds and agreement with
// time.ParseDuration where both accept.
func FuzzGoDuration(f *testing.F) {
	for _, s := range []string{"1s", "6m0s", "12ms", "1m30.5s", "7.66s", "2h", "1d2h", "-1s", "99999999999h", "1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseGoDuration(s)
		if !ok {
			return
		}
		if d < 0 || d > MaxWait {
			t.Fatalf("parseGoDuration(%q) = %v", s, d)
		}
		if want, err := time.ParseDuration(s); err == nil && want >= 0 && want < MaxWait {
			if diff := d - want; diff < -time.Microsecond || diff > time.Microsecond {
				t.Fatalf("parseGoDuration(%q) = %v, time.ParseDuration says %v", s, d, want)
			}
		}
	})
}

// FuzzStructuredField checks that the RFC 8941 parser never panics and
// that what it accepts round-trips through its own bounds.
func FuzzStructuredField(f *testing.F) {
	for _, s := range []string{`"burst";q=100;w=60, "daily";q=1000;w=86400`, `a=1, b;x, c=(1 2);y=?0`, `:YWJj:`,
		`"esc\"aped"`, `1.234;a=-5`, `(`, `"unterminated`, `a=1,`, `*tok/en:x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if items, err := parseSFList(s); err == nil {
			if len(items) > sfMaxMembers {
				t.Fatalf("%d members", len(items))
			}
			for _, it := range items {
				if len(it.params) > sfMaxParams {
					t.Fatalf("%d params", len(it.params))
				}
				if v, ok := it.number(); ok && (math.IsNaN(v) || math.Abs(v) >= 1e15) {
					t.Fatalf("number %v out of RFC 8941 range", v)
				}
			}
		}
		if ms, err := parseSFDict(s); err == nil && len(ms) > sfMaxMembers {
			t.Fatalf("%d members", len(ms))
		}
	})
}

// FuzzRetryAfter checks Retry-After parsing against skewed Date headers.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "2.0", "Fri, 31 Dec 1999 23:59:59 GMT", "Monday, 23-Nov-26 10:00:30 GMT",
		"Mon Nov 23 10:00:30 2026", "-5", "1000000", ""} {
		f.Add(s, "Mon, 23 Nov 2026 10:00:00 GMT", int64(0))
	}
	f.Fuzz(func(t *testing.T, ra, date string, skew int64) {
		now := t0.Add(time.Duration(skew))
		h := http.Header{"Retry-After": {ra}, "Date": {date}}
		s := parse(429, h, nil, "", now, DialectAuto)
		checkSignal(t, s, now)
		if strings.TrimSpace(ra) == "" && s.HasRetryAfter {
			t.Fatalf("empty Retry-After gave %v", s.RetryAfter)
		}
	})
}

// FuzzTimestamp checks the absolute-time parser.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2025-08-21T12:40:59Z", "2026-03-26T16:00Z", "Mon, 23 Nov 2026 10:00:00 GMT", "2025-13-45T99:99:99Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, ok := parseTimestamp(s)
		if !ok {
			return
		}
		c := newClock(http.Header{}, t0)
		if r := c.at(ts); r.Before(t0) || r.Sub(t0) > MaxWait {
			t.Fatalf("at(%q) = %v", s, r)
		}
	})
}
