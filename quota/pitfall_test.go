package quota

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The tests in this file cover twelve pitfalls of parsing providers' rate
// limit headers (units, clocks, resets, scopes, partial headers), one test
// per pitfall.

// firstObs parses and returns the first observation (or fails).
func firstObs(t *testing.T, status int, h http.Header, now time.Time, d Dialect) Observation {
	t.Helper()
	s := parse(status, h, nil, "", now, d)
	if len(s.Observations) == 0 {
		t.Fatalf("parse(%v, %s) gave no observation", h, d)
	}
	return s.Observations[0]
}

// Pitfall 1: "reset" is epoch seconds, fractional epoch, delta seconds, a
// Go duration, RFC 3339, ISO 8601 to the minute or epoch ms, by dialect.
func TestPitfall1EpochVsDelta(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		d    Dialect
		want time.Duration
	}{
		{"github epoch seconds", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", epoch(90*time.Second)), DialectGitHub, 90 * time.Second},
		{"gitlab epoch under IETF names", hdr("RateLimit-Limit", "10", "RateLimit-Remaining", "1", "RateLimit-Reset", epoch(90*time.Second)), DialectAuto, 90 * time.Second},
		{"ietf -06 delta under the same names", hdr("RateLimit-Limit", "10", "RateLimit-Remaining", "1", "RateLimit-Reset", "90"), DialectAuto, 90 * time.Second},
		{"discord fractional epoch", hdr("X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", strconv.FormatInt(t0.Unix(), 10)+".25", "X-RateLimit-Bucket", "b"), DialectDiscord, 250 * time.Millisecond},
		{"reddit delta", hdr("X-Ratelimit-Used", "3", "X-Ratelimit-Remaining", "597", "X-Ratelimit-Reset", "90"), DialectReddit, 90 * time.Second},
		{"openai go duration", hdr("x-ratelimit-limit-requests", "10", "x-ratelimit-remaining-requests", "1", "x-ratelimit-reset-requests", "1m30s"), DialectOpenAI, 90 * time.Second},
		{"anthropic rfc 3339", hdr("anthropic-ratelimit-requests-limit", "10", "anthropic-ratelimit-requests-remaining", "1", "anthropic-ratelimit-requests-reset", "2026-11-23T10:01:30Z"), DialectAnthropic, 90 * time.Second},
		{"anthropic unified epoch", hdr("anthropic-ratelimit-requests-limit", "10", "anthropic-ratelimit-requests-remaining", "1", "anthropic-ratelimit-requests-reset", epoch(90*time.Second)), DialectAnthropic, 90 * time.Second},
		{"atlassian iso minute", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "2026-11-23T10:02Z"), DialectGeneric, 2 * time.Minute},
		{"generic guesses epoch ms", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", strconv.FormatInt(t0.Add(90*time.Second).UnixMilli(), 10)), DialectGeneric, 90 * time.Second},
		{"generic guesses delta", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "90"), DialectGeneric, 90 * time.Second},
		{"github delta as last resort", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "90"), DialectGitHub, 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := firstObs(t, 200, tt.h, t0, tt.d)
			if got := o.Reset.Sub(t0); got != tt.want {
				t.Errorf("reset in %v, want %v", got, tt.want)
			}
		})
	}
}

// Pitfall 2: absolute times are converted with the response's Date, so a
// local clock that is off does no harm; a reset in the past clamps to now.
func TestPitfall2ClockSkew(t *testing.T) {
	serverNow := t0
	for _, skew := range []time.Duration{-time.Hour, -10 * time.Second, 0, 10 * time.Second, time.Hour} {
		local := serverNow.Add(skew)
		h := hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epoch(30*time.Second),
			"X-RateLimit-Resource", "core", "Retry-After", "Mon, 23 Nov 2026 10:00:20 GMT")
		s := parse(403, h, nil, "", local, DialectAuto)
		if got := s.Observations[0].Reset.Sub(local); got != 30*time.Second {
			t.Errorf("skew %v: reset in %v, want 30s", skew, got)
		}
		if s.RetryAfter != 20*time.Second {
			t.Errorf("skew %v: retry-after %v, want 20s", skew, s.RetryAfter)
		}
	}
	// A reset already past (by the server's clock) is now, not negative.
	h := hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epoch(-time.Minute), "X-RateLimit-Resource", "core")
	if o := firstObs(t, 200, h, t0, DialectAuto); !o.Reset.Equal(t0) {
		t.Errorf("past reset = %v, want now %v", o.Reset, t0)
	}
	// Without a Date header the local clock is all there is.
	h = http.Header{"X-Ratelimit-Limit": {"10"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {epoch(30 * time.Second)}, "X-Ratelimit-Resource": {"core"}}
	if o := firstObs(t, 200, h, t0, DialectAuto); o.Reset.Sub(t0) != 30*time.Second {
		t.Errorf("no Date: reset in %v, want 30s", o.Reset.Sub(t0))
	}
}

// Pitfall 3: fractional values ("64.57", "2.0", "99.0") are not zero.
func TestPitfall3Fractions(t *testing.T) {
	s := parse(429, hdr("Retry-After", "2.0"), nil, "", t0, DialectAuto)
	if s.RetryAfter != 2*time.Second {
		t.Errorf("Retry-After 2.0 = %v", s.RetryAfter)
	}
	o := firstObs(t, 200, hdr("X-Ratelimit-Used", "1", "X-Ratelimit-Remaining", "99.0", "X-Ratelimit-Reset", "64.57"), t0, DialectReddit)
	if o.Remaining != 99 || o.Reset.Sub(t0) != 64570*time.Millisecond {
		t.Errorf("reddit = %+v, want remaining 99, reset in 64.57s", o)
	}
	o = firstObs(t, 200, hdr("X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset-After", "64.57", "X-RateLimit-Bucket", "h"), t0, DialectDiscord)
	if o.Reset.Sub(t0) != 64570*time.Millisecond {
		t.Errorf("discord reset in %v, want 64.57s", o.Reset.Sub(t0))
	}
}

// Pitfall 4: Retry-After dates come in all three HTTP-date formats.
func TestPitfall4RetryAfterDates(t *testing.T) {
	for _, v := range []string{"Mon, 23 Nov 2026 10:02:00 GMT", "Monday, 23-Nov-26 10:02:00 GMT", "Mon Nov 23 10:02:00 2026"} {
		s := parse(429, hdr("Retry-After", v), nil, "", t0, DialectAuto)
		if !s.HasRetryAfter || s.RetryAfter != 2*time.Minute {
			t.Errorf("Retry-After %q = %v (%v), want 2m", v, s.RetryAfter, s.HasRetryAfter)
		}
	}
}

// Pitfall 5: huge, negative and sentinel values are capped or ignored.
func TestPitfall5HugeNegativeSentinel(t *testing.T) {
	tests := []struct {
		name      string
		h         http.Header
		wantRA    time.Duration
		wantHasRA bool
	}{
		{"huge", hdr("Retry-After", "1000000"), MaxWait, true},
		{"negative", hdr("Retry-After", "-5"), 0, false},
		{"exponent", hdr("Retry-After", "1e9"), 0, false},
		{"nan", hdr("Retry-After", "NaN"), 0, false},
		{"hex", hdr("Retry-After", "0x10"), 0, false},
		{"far date", hdr("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"), MaxWait, true},
		{"past date", hdr("Retry-After", "Fri, 31 Dec 1999 23:59:59 GMT"), 0, true},
		{"negative ms falls back", hdr("Retry-After-Ms", "-1", "Retry-After", "3"), 3 * time.Second, true},
	}
	for _, tt := range tests {
		s := parse(429, tt.h, nil, "", t0, DialectAuto)
		if s.RetryAfter != tt.wantRA || s.HasRetryAfter != tt.wantHasRA {
			t.Errorf("%s: RetryAfter = %v, %v; want %v, %v", tt.name, s.RetryAfter, s.HasRetryAfter, tt.wantRA, tt.wantHasRA)
		}
	}
	counts := []struct {
		name          string
		h             http.Header
		wantLim, want float64
		wantReset     bool
	}{
		{"limit -1", hdr("X-RateLimit-Limit", "-1", "X-RateLimit-Remaining", "5"), Unknown, 5, false},
		{"remaining -1", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "-1"), 10, Unknown, false},
		{"zero limit zero remaining", hdr("X-RateLimit-Limit", "0", "X-RateLimit-Remaining", "0"), Unknown, Unknown, false},
		{"remaining over limit", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "50"), 10, 10, false},
		{"absurd limit", hdr("X-RateLimit-Limit", "99999999999999999999", "X-RateLimit-Remaining", "1"), MaxQuota, 1, false},
		{"zero epoch reset", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "0", "X-RateLimit-Resource", "core"), 10, 1, false},
		{"negative reset", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "-3"), 10, 1, false},
		{"year 9999 reset is garbage", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "253402300799"), 10, 1, false},
		{"reset in two days is clamped", hdr("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", epoch(48*time.Hour)), 10, 1, true},
	}
	for _, tt := range counts {
		o := firstObs(t, 200, tt.h, t0, DialectAuto)
		if o.Limit != tt.wantLim || o.Remaining != tt.want || o.Reset.IsZero() == tt.wantReset {
			t.Errorf("%s: %+v; want limit %v remaining %v reset %v", tt.name, o, tt.wantLim, tt.want, tt.wantReset)
		}
		if !o.Reset.IsZero() && o.Reset.Sub(t0) > MaxWait {
			t.Errorf("%s: reset %v beyond MaxWait", tt.name, o.Reset)
		}
	}
}

// Pitfall 6: several limits at once; the wait is the latest reset among the
// exhausted buckets.
func TestPitfall6SeveralLimits(t *testing.T) {
	h := hdr("x-ratelimit-limit-requests", "60", "x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "2s",
		"x-ratelimit-limit-tokens", "1000", "x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "7s")
	s := parse(429, h, nil, "", t0, DialectAuto)
	if len(s.Observations) != 2 {
		t.Fatalf("observations = %+v, want 2", s.Observations)
	}
	if d, ok := s.Wait(t0); !ok || d != 7*time.Second {
		t.Errorf("Wait = %v, %v; want 7s (the later of two exhausted buckets)", d, ok)
	}
	h.Set("x-ratelimit-remaining-tokens", "10")
	if d, ok := parse(429, h, nil, "", t0, DialectAuto).Wait(t0); !ok || d != 2*time.Second {
		t.Errorf("Wait = %v, %v; want 2s (only requests exhausted)", d, ok)
	}
}

// Pitfall 7: a structured field split over several header lines is one
// field; Header.Get would see only the first line.
func TestPitfall7SeveralHeaderLines(t *testing.T) {
	h := hdr("RateLimit-Policy", `"minute";q=100;w=60`, "RateLimit-Policy", `"hour";q=1000;w=3600`,
		"RateLimit", `"minute";r=10`, "RateLimit", `"hour";r=0;t=1800`)
	s := parse(200, h, nil, "", t0, DialectAuto)
	want := []Observation{
		ob("ietf:minute", Requests, 100, 10, none, time.Minute),
		ob("ietf:hour", Requests, 1000, 0, 30*time.Minute, time.Hour),
	}
	if len(s.Observations) != 2 || s.Observations[0] != want[0] || s.Observations[1] != want[1] {
		t.Errorf("observations = %+v, want %+v", s.Observations, want)
	}
	// A malformed line spoils the whole field (RFC 8941): nothing is trusted.
	h.Add("RateLimit", `"broken;r=`)
	h.Add("RateLimit-Policy", `;;`)
	if s := parse(200, h, nil, "", t0, DialectIETF); len(s.Observations) != 0 {
		t.Errorf("malformed field: observations = %+v, want none", s.Observations)
	}
}

// Pitfall 8: throttling is not always 429, and 429 is not always
// retryable.
func TestPitfall8ThrottleIsNotAlways429(t *testing.T) {
	tests := []struct {
		name                  string
		status                int
		h                     http.Header
		body                  string
		d                     Dialect
		throttled, doNotRetry bool
	}{
		{"github 403 remaining 0", 403, hdr("X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0", "X-RateLimit-Resource", "core"), "", DialectAuto, true, false},
		{"github 403 abuse", 403, hdr(), `{"documentation_url":"https://docs.github.com/rest#abuse-rate-limits"}`, DialectGitHub, true, false},
		{"drive 403 userRateLimitExceeded", 403, hdr(), `{"error":{"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}}`, DialectAuto, true, false},
		{"apim 403 quota", 403, hdr(), `{"statusCode":403,"message":"Out of call volume quota. Quota will be replenished in 00:00:05."}`, DialectAuto, true, true},
		{"salesforce 403", 403, hdr(), `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`, DialectAuto, true, true},
		{"nginx 503 with retry-after", 503, hdr("Retry-After", "1"), "", DialectAuto, true, false},
		{"ietf 503 reduced capacity", 503, hdr("Content-Type", "application/problem+json"), `{"type":"https://iana.org/assignments/http-problem-types#temporary-reduced-capacity"}`, DialectAuto, true, false},
		{"shopify graphql 200", 200, hdr("Content-Type", "application/json"), `{"errors":[{"extensions":{"code":"THROTTLED"}}]}`, DialectShopify, true, false},
		{"anthropic 529", 529, hdr(), "", DialectAuto, true, false},
		{"openai insufficient_quota", 429, hdr(), `{"error":{"code":"insufficient_quota"}}`, DialectAuto, true, true},
		{"azure lock conflict", 429, hdr(), `{"error":{"code":"RetryableErrorDueToAnotherOperation"}}`, DialectAuto, false, true},
		{"anthropic spend limit 400", 400, hdr(), `{"error":{"message":"Your credit balance is too low"}}`, DialectAuto, false, true},
		{"x-should-retry false", 429, hdr("X-Should-Retry", "false"), "", DialectAuto, true, true},
		{"plain 403", 403, hdr(), `{"message":"Bad credentials"}`, DialectAuto, false, false},
		{"plain 500", 500, hdr(), "", DialectAuto, false, false},
	}
	for _, tt := range tests {
		s := parse(tt.status, tt.h, []byte(tt.body), "", t0, tt.d)
		if s.Throttled != tt.throttled || s.DoNotRetry != tt.doNotRetry {
			t.Errorf("%s: Throttled %v DoNotRetry %v; want %v %v", tt.name, s.Throttled, s.DoNotRetry, tt.throttled, tt.doNotRetry)
		}
	}
}

// Pitfall 9: missing headers mean unknown, not unlimited; a cached
// response's counters are stale.
func TestPitfall9MissingHeaders(t *testing.T) {
	s := parse(429, hdr(), nil, "", t0, DialectAuto)
	if len(s.Observations) != 0 || s.HasRetryAfter {
		t.Errorf("bare 429 = %+v, want no observation and no wait", s)
	}
	if _, ok := s.Wait(t0); ok {
		t.Error("bare 429 names a wait")
	}
	h := hdr("Age", "12", "X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0", "X-RateLimit-Resource", "core")
	if s := parse(200, h, nil, "", t0, DialectAuto); len(s.Observations) != 0 {
		t.Errorf("cached response: observations %+v, want none", s.Observations)
	}
	o := firstObs(t, 200, hdr("X-RateLimit-Remaining", "5"), t0, DialectAuto)
	if o.Limit != Unknown || !o.Reset.IsZero() {
		t.Errorf("remaining only: %+v, want limit Unknown and no reset", o)
	}
}

// Pitfall 10: bucket identity includes the resource, policy, partition key
// and, for Discord, the top-level resource id.
func TestPitfall10BucketIdentity(t *testing.T) {
	tests := []struct {
		h    http.Header
		path string
		want string
	}{
		{hdr("X-RateLimit-Limit", "30", "X-RateLimit-Remaining", "1", "X-RateLimit-Resource", "search"), "", "github:search"},
		{hdr("X-RateLimit-Limit", "30", "X-RateLimit-Remaining", "1", "X-Github-Request-Id", "A:B"), "", "github:core"},
		{hdr("X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "1", "X-RateLimit-Bucket", "h1"), "/api/v10/channels/1/messages", "discord:h1:channels/1"},
		{hdr("X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "1", "X-RateLimit-Bucket", "h1"), "/api/v10/channels/2/messages", "discord:h1:channels/2"},
		{hdr("X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "1", "X-RateLimit-Bucket", "h1"), "/api/v10/guilds/9/members", "discord:h1:guilds/9"},
		{hdr("RateLimit", `"p";r=1;pk=:YWJj:`), "", "ietf:p:YWJj"},
	}
	for _, tt := range tests {
		s := parse(200, tt.h, nil, tt.path, t0, DialectAuto)
		if s.Observations[0].Bucket != tt.want {
			t.Errorf("%s: bucket %q, want %q", tt.path, s.Observations[0].Bucket, tt.want)
		}
	}
}

// Pitfall 11: OpenAI's and Anthropic's reset is the time until the bucket
// is full again, so their buckets are marked Continuous (the Tracker then
// refills them steadily instead of all at once).
func TestPitfall11ResetMeansFullRefill(t *testing.T) {
	for _, h := range []http.Header{
		hdr("x-ratelimit-limit-tokens", "1000", "x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "6m0s"),
		hdr("anthropic-ratelimit-tokens-limit", "1000", "anthropic-ratelimit-tokens-remaining", "0", "anthropic-ratelimit-tokens-reset", "2026-11-23T10:06:00Z"),
		hdr("X-Shopify-Shop-Api-Call-Limit", "40/40"),
	} {
		if o := firstObs(t, 200, h, t0, DialectAuto); !o.Continuous {
			t.Errorf("%+v: not Continuous", o)
		}
	}
	if o := firstObs(t, 200, hdr("X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0", "X-RateLimit-Resource", "core"), t0, DialectAuto); o.Continuous {
		t.Errorf("github fixed window marked Continuous: %+v", o)
	}
}

// Pitfall 12: Retry-After beats every vendor reset value.
func TestPitfall12Precedence(t *testing.T) {
	for _, ra := range []string{"5", "600"} {
		h := hdr("X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epoch(time.Minute),
			"X-RateLimit-Resource", "core", "Retry-After", ra)
		s := parse(429, h, nil, "", t0, DialectAuto)
		want, _ := strconv.Atoi(ra)
		if d, ok := s.Wait(t0); !ok || d != time.Duration(want)*time.Second {
			t.Errorf("Retry-After %s with reset in 1m: Wait = %v, want %ss", ra, d, ra)
		}
	}
	// A body's retry_after does not override the header.
	s := parse(429, hdr("Retry-After", "2"), []byte(`{"retry_after":9}`), "", t0, DialectDiscord)
	if s.RetryAfter != 2*time.Second {
		t.Errorf("header 2 vs body 9: RetryAfter %v, want 2s", s.RetryAfter)
	}
	// Without Retry-After the exhausted reset wins, then the hint.
	h := hdr("X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epoch(time.Minute), "X-RateLimit-Resource", "core")
	if d, _ := parse(403, h, nil, "", t0, DialectAuto).Wait(t0); d != time.Minute {
		t.Errorf("exhausted reset: Wait %v, want 1m", d)
	}
	h = hdr("X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "9", "X-RateLimit-Resource", "core")
	if d, _ := parse(429, h, nil, "", t0, DialectAuto).Wait(t0); d != githubSecondaryWait {
		t.Errorf("secondary: Wait %v, want %v", d, githubSecondaryWait)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		h    http.Header
		want Dialect
	}{
		{hdr(), DialectNone},
		{hdr("Retry-After", "1"), DialectRetryAfter},
		{hdr("X-Ms-Retry-After-Ms", "1"), DialectRetryAfter},
		{hdr("RateLimit", `"a";r=1`), DialectIETF},
		{hdr("Beta-RateLimit", `"a";r=1`), DialectIETF},
		{hdr("RateLimit-Limit", "10", "RateLimit-Reset", "30"), DialectIETF},
		{hdr("RateLimit-Limit", "10", "RateLimit-Reset", epoch(time.Minute)), DialectGitLab},
		{hdr("RateLimit-Limit", "10", "RateLimit-Observed", "1"), DialectGitLab},
		{hdr("X-RateLimit-Limit", "10", "X-RateLimit-Resource", "core"), DialectGitHub},
		{hdr("X-RateLimit-Limit", "10", "X-RateLimit-Bucket", "x"), DialectDiscord},
		{hdr("X-RateLimit-Used", "1", "X-RateLimit-Remaining", "9"), DialectReddit},
		{hdr("x-ratelimit-limit-requests", "10"), DialectOpenAI},
		{hdr("x-ratelimit-remaining-tokens", "10"), DialectOpenAI},
		{hdr("anthropic-ratelimit-requests-limit", "10"), DialectAnthropic},
		{hdr("x-rate-limit-limit", "10"), DialectX},
		{hdr("X-Shopify-Shop-Api-Call-Limit", "1/40"), DialectShopify},
		{hdr("x-ms-ratelimit-remaining-subscription-writes", "1199"), DialectAzure},
		{hdr("X-RateLimit-Limit", "10"), DialectGeneric},
	}
	for _, tt := range tests {
		if got := detect(tt.h); got != tt.want {
			t.Errorf("detect(%v) = %s, want %s", tt.h, got, tt.want)
		}
	}
}
