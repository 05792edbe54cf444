package quota

import (
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// t0 is the local time responses arrive at in these tests; the server's
// Date header agrees with it unless a test says otherwise.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// hdr builds a header from name/value pairs, adding (not setting) each so
// that a name may appear on several lines. A Date of t0 is added unless a
// Date is given.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	if _, ok := h["Date"]; !ok {
		h.Set("Date", t0.Format(http.TimeFormat))
	}
	return h
}

// ob builds an expected Observation; reset is the delay after t0 (-1: none).
func ob(bucket string, unit Unit, lim, rem float64, reset, window time.Duration) Observation {
	o := Observation{Bucket: bucket, Unit: unit, Limit: lim, Remaining: rem, Window: window}
	if reset >= 0 {
		o.Reset = t0.Add(reset)
	}
	return o
}

func cont(o Observation) Observation { o.Continuous = true; return o }

const none = -1

func epoch(d time.Duration) string { return strconv.FormatInt(t0.Add(d).Unix(), 10) }

func TestParseDialects(t *testing.T) {
	tests := []struct {
		name   string
		status int
		h      http.Header
		body   string
		path   string
		d      Dialect
		want   Signal
	}{
		{
			name: "retry-after seconds", status: 429, h: hdr("Retry-After", "120"),
			want: Signal{Dialect: DialectRetryAfter, RetryAfter: 120 * time.Second, HasRetryAfter: true, Throttled: true},
		},
		{
			name: "retry-after fractional", status: 429, h: hdr("Retry-After", "2.0"),
			want: Signal{Dialect: DialectRetryAfter, RetryAfter: 2 * time.Second, HasRetryAfter: true, Throttled: true},
		},
		{
			name: "retry-after IMF-fixdate", status: 503, h: hdr("Retry-After", "Mon, 23 Nov 2026 10:00:30 GMT"),
			want: Signal{Dialect: DialectRetryAfter, RetryAfter: 30 * time.Second, HasRetryAfter: true, Throttled: true},
		},
		{
			name: "retry-after RFC 850", status: 429, h: hdr("Retry-After", "Monday, 23-Nov-26 10:00:30 GMT"),
			want: Signal{Dialect: DialectRetryAfter, RetryAfter: 30 * time.Second, HasRetryAfter: true, Throttled: true},
		},
		{
			name: "retry-after asctime", status: 429, h: hdr("Retry-After", "Mon Nov 23 10:00:30 2026"),
			want: Signal{Dialect: DialectRetryAfter, RetryAfter: 30 * time.Second, HasRetryAfter: true, Throttled: true},
		},
		{
			name: "retry-after-ms beats retry-after", status: 429, h: hdr("Retry-After", "1", "Retry-After-Ms", "1500"),
			want: Signal{Dialect: DialectRetryAfter, RetryAfter: 1500 * time.Millisecond, HasRetryAfter: true, Throttled: true},
		},
		{
			name: "x-ms-retry-after-ms", status: 429, h: hdr("Retry-After", "1", "X-Ms-Retry-After-Ms", "250"),
			want: Signal{Dialect: DialectRetryAfter, RetryAfter: 250 * time.Millisecond, HasRetryAfter: true, Throttled: true},
		},
		{
			name: "ietf -08+ two policies", status: 200,
			h: hdr("RateLimit-Policy", `"burst";q=100;w=60,"daily";q=1000;w=86400`,
				"RateLimit", `"burst";r=50;t=30, "daily";r=999;t=3600`),
			want: Signal{Dialect: DialectIETF, Observations: []Observation{
				ob("ietf:burst", Requests, 100, 50, 30*time.Second, time.Minute),
				ob("ietf:daily", Requests, 1000, 999, time.Hour, 24*time.Hour),
			}},
		},
		{
			name: "ietf split over header lines, pk and unit", status: 200,
			h: hdr("RateLimit-Policy", `"a";q=10;w=1`, "RateLimit-Policy", `"b";q=5000;qu="content-bytes";w=10;pk=:cHJvamVjdDEyMw==:`,
				"RateLimit", `"a";r=3;t=1`, "RateLimit", `"b";r=0;t=7;pk=:cHJvamVjdDEyMw==:`),
			want: Signal{Dialect: DialectIETF, Observations: []Observation{
				ob("ietf:a", Requests, 10, 3, time.Second, time.Second),
				ob("ietf:b:cHJvamVjdDEyMw==", Bytes, 5000, 0, 7*time.Second, 10*time.Second),
			}},
		},
		{
			name: "ietf express draft-8 spaces after semicolons", status: 200,
			h: hdr("RateLimit-Policy", `"100-in-1min"; q=100; w=60`, "RateLimit", `"100-in-1min"; r=99; t=60`),
			want: Signal{Dialect: DialectIETF, Observations: []Observation{
				ob("ietf:100-in-1min", Requests, 100, 99, time.Minute, time.Minute),
			}},
		},
		{
			name: "ietf -07", status: 200,
			h: hdr("RateLimit", "limit=100, remaining=50, reset=5", "RateLimit-Policy", "100;w=10"),
			want: Signal{Dialect: DialectIETF, Observations: []Observation{
				ob("ietf", Requests, 100, 50, 5*time.Second, 10*time.Second),
			}},
		},
		{
			name: "ietf -06", status: 200,
			h: hdr("RateLimit-Limit", "50", "RateLimit-Remaining", "49", "RateLimit-Reset", "50", "RateLimit-Policy", "10;w=1, 50;w=60"),
			want: Signal{Dialect: DialectIETF, Observations: []Observation{
				ob("ietf", Requests, 50, 49, 50*time.Second, time.Minute),
			}},
		},
		{
			name: "ietf -03 limit with policy", status: 200,
			h: hdr("RateLimit-Limit", "10, 10;w=1", "RateLimit-Remaining", "9", "RateLimit-Reset", "1"),
			want: Signal{Dialect: DialectIETF, Observations: []Observation{
				ob("ietf", Requests, 10, 9, time.Second, time.Second),
			}},
		},
		{
			name: "github core", status: 200,
			h: hdr("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4999", "X-RateLimit-Used", "1",
				"X-RateLimit-Reset", epoch(time.Hour), "X-RateLimit-Resource", "core"),
			want: Signal{Dialect: DialectGitHub, Observations: []Observation{
				ob("github:core", Requests, 5000, 4999, time.Hour, 0),
			}},
		},
		{
			name: "github primary 403", status: 403,
			h: hdr("X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0", "X-RateLimit-Used", "60",
				"X-RateLimit-Reset", epoch(20*time.Minute), "X-RateLimit-Resource", "search"),
			body: `{"message":"API rate limit exceeded for 1.2.3.4.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`,
			want: Signal{Dialect: DialectGitHub, Throttled: true, Observations: []Observation{
				ob("github:search", Requests, 60, 0, 20*time.Minute, 0),
			}},
		},
		{
			name: "github secondary 403", status: 403,
			h: hdr("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4000",
				"X-RateLimit-Reset", epoch(time.Hour), "X-RateLimit-Resource", "core"),
			body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#secondary-rate-limits"}`,
			want: Signal{Dialect: DialectGitHub, Throttled: true, Hint: time.Minute, Observations: []Observation{
				ob("github:core", Requests, 5000, 4000, time.Hour, 0),
			}},
		},
		{
			name: "github plain 403 is not a throttle", status: 403,
			h:    hdr("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4000", "X-RateLimit-Resource", "core"),
			body: `{"message":"Resource not accessible by integration"}`,
			want: Signal{Dialect: DialectGitHub, Observations: []Observation{
				ob("github:core", Requests, 5000, 4000, none, 0),
			}},
		},
		{
			name: "openai requests and tokens", status: 200,
			h: hdr("x-ratelimit-limit-requests", "60", "x-ratelimit-limit-tokens", "150000",
				"x-ratelimit-remaining-requests", "59", "x-ratelimit-remaining-tokens", "149984",
				"x-ratelimit-reset-requests", "1s", "x-ratelimit-reset-tokens", "6m0s"),
			want: Signal{Dialect: DialectOpenAI, Observations: []Observation{
				cont(ob("openai:requests", Requests, 60, 59, time.Second, 0)),
				cont(ob("openai:tokens", Tokens, 150000, 149984, 6*time.Minute, 0)),
			}},
		},
		{
			name: "openai 429 with try again in body", status: 429,
			h:    hdr("x-ratelimit-limit-requests", "60", "x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "20ms"),
			body: `{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in 1.2s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			want: Signal{Dialect: DialectOpenAI, Throttled: true, RetryAfter: 1200 * time.Millisecond, HasRetryAfter: true,
				Observations: []Observation{cont(ob("openai:requests", Requests, 60, 0, 20*time.Millisecond, 0))}},
		},
		{
			name: "openai insufficient_quota", status: 429,
			body: `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			want: Signal{Dialect: DialectNone, Throttled: true, DoNotRetry: true},
		},
		{
			name: "azure openai sentinels", status: 200, d: DialectOpenAI,
			h:    hdr("x-ratelimit-remaining-requests", "-1", "x-ratelimit-limit-tokens", "0", "x-ratelimit-remaining-tokens", "0"),
			want: Signal{Dialect: DialectOpenAI},
		},
		{
			name: "anthropic four families", status: 200,
			h: hdr("anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-remaining", "49",
				"anthropic-ratelimit-requests-reset", "2026-11-23T10:00:01Z",
				"anthropic-ratelimit-tokens-limit", "50000", "anthropic-ratelimit-tokens-remaining", "40000",
				"anthropic-ratelimit-tokens-reset", "2026-11-23T10:00:12Z",
				"anthropic-ratelimit-input-tokens-limit", "40000", "anthropic-ratelimit-input-tokens-remaining", "32000",
				"anthropic-ratelimit-input-tokens-reset", "2026-11-23T10:00:12Z",
				"anthropic-ratelimit-output-tokens-limit", "10000", "anthropic-ratelimit-output-tokens-remaining", "8000",
				"anthropic-ratelimit-output-tokens-reset", "2026-11-23T10:00:12.5Z"),
			want: Signal{Dialect: DialectAnthropic, Observations: []Observation{
				cont(ob("anthropic:requests", Requests, 50, 49, time.Second, 0)),
				cont(ob("anthropic:tokens", Tokens, 50000, 40000, 12*time.Second, 0)),
				cont(ob("anthropic:input-tokens", InputTokens, 40000, 32000, 12*time.Second, 0)),
				cont(ob("anthropic:output-tokens", OutputTokens, 10000, 8000, 12500*time.Millisecond, 0)),
			}},
		},
		{
			name: "anthropic 529 overloaded", status: 529,
			h:    hdr("x-should-retry", "true", "retry-after", "3"),
			body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			want: Signal{Dialect: DialectRetryAfter, Throttled: true, RetryAfter: 3 * time.Second, HasRetryAfter: true},
		},
		{
			name: "anthropic spend limit 400", status: 400, d: DialectAnthropic,
			body: `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}`,
			want: Signal{Dialect: DialectAnthropic, DoNotRetry: true},
		},
		{
			name: "x with 24 hour caps", status: 200,
			h: hdr("x-rate-limit-limit", "900", "x-rate-limit-remaining", "847", "x-rate-limit-reset", epoch(15*time.Minute),
				"x-app-limit-24hour-limit", "10000", "x-app-limit-24hour-remaining", "9000", "x-app-limit-24hour-reset", epoch(20*time.Hour)),
			want: Signal{Dialect: DialectX, Observations: []Observation{
				ob("x", Requests, 900, 847, 15*time.Minute, 0),
				ob("x:app-24hour", Requests, 10000, 9000, 20*time.Hour, 24*time.Hour),
			}},
		},
		{
			name: "reddit float remaining", status: 200,
			h: hdr("X-Ratelimit-Used", "1", "X-Ratelimit-Remaining", "99.0", "X-Ratelimit-Reset", "540"),
			want: Signal{Dialect: DialectReddit, Observations: []Observation{
				ob("reddit", Requests, 100, 99, 9*time.Minute, 10*time.Minute),
			}},
		},
		{
			name: "discord bucket with major resource", status: 200, path: "/api/v10/channels/41771983423143937/messages",
			h: hdr("X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "1795428002.5",
				"X-RateLimit-Reset-After", "2.5", "X-RateLimit-Bucket", "abcd1234"),
			want: Signal{Dialect: DialectDiscord, Observations: []Observation{
				ob("discord:abcd1234:channels/41771983423143937", Requests, 5, 1, 2500*time.Millisecond, 0),
			}},
		},
		{
			name: "discord global 429", status: 429,
			h:    hdr("X-RateLimit-Global", "true", "X-RateLimit-Scope", "global", "Retry-After", "65"),
			body: `{"message":"You are being rate limited.","retry_after":64.57,"global":true}`,
			want: Signal{Dialect: DialectDiscord, Throttled: true, Global: true, RetryAfter: 65 * time.Second, HasRetryAfter: true},
		},
		{
			name: "discord body retry_after without header", status: 429, d: DialectDiscord,
			body: `{"message":"You are being rate limited.","retry_after":0.25,"global":false}`,
			want: Signal{Dialect: DialectDiscord, Throttled: true, RetryAfter: 250 * time.Millisecond, HasRetryAfter: true},
		},
		{
			name: "shopify rest", status: 200, h: hdr("X-Shopify-Shop-Api-Call-Limit", "32/40"),
			want: Signal{Dialect: DialectShopify, Observations: []Observation{cont(ob("shopify", Requests, 40, 8, none, 0))}},
		},
		{
			name: "shopify 429 fractional retry-after", status: 429, h: hdr("X-Shopify-Shop-Api-Call-Limit", "40/40", "Retry-After", "0.05"),
			want: Signal{Dialect: DialectShopify, Throttled: true, RetryAfter: 50 * time.Millisecond, HasRetryAfter: true,
				Observations: []Observation{cont(ob("shopify", Requests, 40, 0, none, 0))}},
		},
		{
			name: "shopify graphql throttled 200", status: 200, d: DialectShopify, h: hdr("Content-Type", "application/json"),
			body: `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}]}`,
			want: Signal{Dialect: DialectShopify, Throttled: true},
		},
		{
			name: "azure arm", status: 200,
			h: hdr("x-ms-ratelimit-remaining-subscription-reads", "11999",
				"x-ms-ratelimit-remaining-resource", "Microsoft.Compute/GetVMScaleSet3Min;197,Microsoft.Compute/GetVMScaleSet30Min;1297"),
			want: Signal{Dialect: DialectAzure, Observations: []Observation{
				ob("azure:Microsoft.Compute/GetVMScaleSet3Min", Requests, Unknown, 197, none, 3*time.Minute),
				ob("azure:Microsoft.Compute/GetVMScaleSet30Min", Requests, Unknown, 1297, none, 30*time.Minute),
				ob("azure:subscription-reads", Requests, Unknown, 11999, none, 0),
			}},
		},
		{
			name: "azure lock conflict is not a throttle", status: 429, d: DialectAzure, h: hdr("Retry-After", "10"),
			body: `{"error":{"code":"RetryableErrorDueToAnotherOperation","message":"Operation is not allowed since another operation is in progress."}}`,
			want: Signal{Dialect: DialectAzure, DoNotRetry: true, RetryAfter: 10 * time.Second, HasRetryAfter: true},
		},
		{
			name: "gitlab epoch reset", status: 200,
			h: hdr("RateLimit-Limit", "600", "RateLimit-Observed", "6", "RateLimit-Remaining", "594",
				"RateLimit-Reset", epoch(time.Minute), "RateLimit-ResetTime", "Mon, 23 Nov 2026 10:01:00 GMT"),
			want: Signal{Dialect: DialectGitLab, Observations: []Observation{ob("gitlab", Requests, 600, 594, time.Minute, 0)}},
		},
		{
			name: "generic epoch reset", status: 200,
			h:    hdr("X-RateLimit-Limit", "100", "X-RateLimit-Remaining", "7", "X-RateLimit-Reset", epoch(42*time.Second)),
			want: Signal{Dialect: DialectGeneric, Observations: []Observation{ob("generic", Requests, 100, 7, 42*time.Second, 0)}},
		},
		{
			name: "generic atlassian minute timestamp", status: 200,
			h:    hdr("X-RateLimit-Limit", "100", "X-RateLimit-Remaining", "7", "X-RateLimit-Reset", "2026-11-23T10:05Z"),
			want: Signal{Dialect: DialectGeneric, Observations: []Observation{ob("generic", Requests, 100, 7, 5*time.Minute, 0)}},
		},
		{
			name: "nginx 503 page", status: 503, h: hdr("Content-Type", "text/html"),
			body: "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
			want: Signal{Dialect: DialectNone, Throttled: true},
		},
		{
			name: "plain 503 is an outage", status: 503, body: "upstream connect error",
			want: Signal{Dialect: DialectNone},
		},
		{
			name: "envoy ratelimited", status: 429, h: hdr("x-envoy-ratelimited", "true"),
			want: Signal{Dialect: DialectNone, Throttled: true},
		},
		{
			name: "google per-day quota", status: 429,
			body: `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"22s"}]}}`,
			want: Signal{Dialect: DialectNone, Throttled: true, DoNotRetry: true, RetryAfter: 22 * time.Second, HasRetryAfter: true},
		},
		{
			name: "stripe should-retry false", status: 429, h: hdr("Stripe-Should-Retry", "false"),
			want: Signal{Dialect: DialectNone, Throttled: true, DoNotRetry: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parse(tt.status, tt.h, []byte(tt.body), tt.path, t0, tt.d)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parse:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseKeepsBody(t *testing.T) {
	body := `{"error":{"code":"insufficient_quota"}}` + strings.Repeat(" ", 2*MaxPeek)
	resp := &http.Response{StatusCode: 429, Header: hdr(), Body: io.NopCloser(strings.NewReader(body))}
	s := Parse(resp, t0, DialectAuto)
	if !s.DoNotRetry || !s.Throttled {
		t.Errorf("Parse = %+v, want a do-not-retry throttle", s)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || string(got) != body {
		t.Errorf("body after Parse: %d bytes, err %v; want the original %d bytes", len(got), err, len(body))
	}
}

func TestParseNeverReadsSuccessBody(t *testing.T) {
	r := &countingReader{r: strings.NewReader("streamed data")}
	resp := &http.Response{StatusCode: 200, Header: hdr("X-RateLimit-Limit", "5"), Body: io.NopCloser(r)}
	Parse(resp, t0, DialectAuto)
	if r.n != 0 {
		t.Errorf("Parse read %d bytes of a 200 body", r.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestParseNil(t *testing.T) {
	if got := Parse(nil, t0, ""); !reflect.DeepEqual(got, Signal{}) {
		t.Errorf("Parse(nil) = %+v", got)
	}
	resp := &http.Response{StatusCode: 429}
	if got := Parse(resp, t0, ""); !got.Throttled {
		t.Errorf("Parse(429 without header or body) = %+v, want Throttled", got)
	}
}

func TestPeekBodyKeepsReadError(t *testing.T) {
	resp := &http.Response{StatusCode: 429, Body: io.NopCloser(io.MultiReader(strings.NewReader("abc"), errAfter{}))}
	Parse(resp, t0, "")
	got, err := io.ReadAll(resp.Body)
	if string(got) != "abc" || err != errBoom {
		t.Errorf("ReadAll = %q, %v; want abc, %v", got, err, errBoom)
	}
}

var errBoom = io.ErrClosedPipe

type errAfter struct{}

func (errAfter) Read([]byte) (int, error) { return 0, errBoom }

func TestParseDialect(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Dialect
		err  bool
	}{
		{"", DialectAuto, false}, {"auto", DialectAuto, false}, {" GitHub ", DialectGitHub, false},
		{"ietf", DialectIETF, false}, {"openai", DialectOpenAI, false}, {"plain", "", true}, {"githup", "", true},
	} {
		got, err := ParseDialect(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseDialect(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), tt.in) {
			t.Errorf("error %q does not name %q", err, tt.in)
		}
	}
}
