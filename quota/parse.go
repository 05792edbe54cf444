package quota

import (
	"net/http"
	"strings"
	"time"
)

// Parse reads what resp says about the provider's quota, in dialect d
// (DialectAuto, the zero value "", detects it). now is the local time at
// which the response arrived; absolute times in the response are converted
// to local times through its Date header, so a skewed local clock does no
// harm.
//
// Parse never panics and never trusts a value as it is: negatives and
// sentinels (-1, a limit of 0) read as Unknown, waits are clamped to
// [0, MaxWait] and counts to MaxQuota. A nil resp gives the zero Signal.
//
// For a response that may be a throttle (status 4xx, 5xx) Parse reads at
// most MaxPeek bytes of the body to find what only the body says (GitHub's
// secondary limit, OpenAI's insufficient_quota, Discord's retry_after) and
// puts them back: the caller reads the whole body as if Parse had not
// touched it. It never reads the body of a 2xx response, except for
// DialectShopify chosen explicitly (GraphQL throttles arrive as 200s).
func Parse(resp *http.Response, now time.Time, d Dialect) Signal {
	if resp == nil {
		return Signal{}
	}
	if quiet(resp.StatusCode, resp.Header, d) {
		return quietSignal(d)
	}
	var body []byte
	if wantsBody(resp, d) {
		body = peekBody(resp, MaxPeek)
	}
	path := ""
	if resp.Request != nil && resp.Request.URL != nil {
		path = resp.Request.URL.Path
	}
	return parse(resp.StatusCode, resp.Header, body, path, now, d)
}

// wantsBody reports whether Parse should peek at resp's body.
func wantsBody(resp *http.Response, d Dialect) bool {
	if resp.Body == nil || resp.Body == http.NoBody || resp.Request != nil && resp.Request.Method == http.MethodHead {
		return false
	}
	switch s := resp.StatusCode; {
	case s == http.StatusOK:
		return d == DialectShopify && strings.Contains(resp.Header.Get("Content-Type"), "json")
	case s == http.StatusBadRequest, s == http.StatusForbidden, s == http.StatusConflict,
		s == http.StatusTooManyRequests, s == http.StatusServiceUnavailable, s == statusOverloaded:
		return true
	}
	return false
}

// statusOverloaded is Anthropic's "overloaded_error" status.
const statusOverloaded = 529

// quietSignal is what Parse returns for a quiet response (see quiet): the
// same Signal the full reading gives, with no Observations.
func quietSignal(d Dialect) Signal {
	if d == DialectAuto || d == "" {
		d = DialectNone // what detect finds without quota headers
	}
	return Signal{Dialect: d}
}

// parse is Parse on the parts of a response: pure, for tests and fuzzing.
func parse(status int, h http.Header, body []byte, path string, now time.Time, d Dialect) Signal {
	if len(body) == 0 && quiet(status, h, d) {
		return quietSignal(d)
	}
	return parseFull(status, h, body, path, now, d)
}

// parseFull is parse without the quiet fast path.
func parseFull(status int, h http.Header, body []byte, path string, now time.Time, d Dialect) Signal {
	if h == nil {
		h = http.Header{}
	}
	if d == DialectAuto || d == "" {
		d = detect(h)
	}
	c := newClock(h, now)
	s := Signal{Dialect: d}
	if !cached(h) {
		s.Observations = observe(h, path, c, d)
	}
	if d != DialectNone {
		if w, ok := parseRetryAfter(h, c); ok {
			s.RetryAfter, s.HasRetryAfter = secs(w), true
		}
	}
	b := inspectBody(body)
	classify(&s, status, h, b, d)
	return s
}

// cached reports a response served from a cache (Age > 0), whose counters
// are stale (the IETF draft says to ignore them).
func cached(h http.Header) bool {
	v, ok := headerNum(h, "Age")
	return ok && v > 0
}

// observe dispatches to the dialect's header reader.
func observe(h http.Header, path string, c clock, d Dialect) []Observation {
	switch d {
	case DialectIETF:
		return parseIETF(h, c)
	case DialectGitLab:
		return parseGitLab(h, c)
	case DialectGitHub:
		return parseGitHub(h, c)
	case DialectOpenAI:
		return parseOpenAI(h, c)
	case DialectAnthropic:
		return parseAnthropic(h, c)
	case DialectX:
		return parseX(h, c)
	case DialectReddit:
		return parseReddit(h, c)
	case DialectDiscord:
		return parseDiscord(h, path, c)
	case DialectShopify:
		return parseShopify(h)
	case DialectAzure:
		return parseAzure(h)
	case DialectGeneric:
		return parseGeneric(h, c)
	}
	return nil
}

// classify sets Throttled, DoNotRetry, Global, Hint and a body Retry-After.
func classify(s *Signal, status int, h http.Header, b bodyInfo, d Dialect) {
	exhausted := false
	for _, o := range s.Observations {
		exhausted = exhausted || o.Exhausted()
	}
	switch status {
	case http.StatusTooManyRequests, statusOverloaded:
		s.Throttled = true
	case http.StatusServiceUnavailable:
		// nginx limit_req refuses with 503 by default; other 503s are
		// outages. A 503 that says when to come back, reports an empty
		// bucket, or is nginx's own page counts as a throttle.
		s.Throttled = s.HasRetryAfter || exhausted || b.nginx || b.reducedCapacity
	case http.StatusForbidden:
		s.Throttled = exhausted || b.secondary || b.rateLimited || b.quotaExceeded
	case http.StatusOK:
		s.Throttled = b.throttled
	}
	if strings.EqualFold(h.Get("X-Envoy-Ratelimited"), "true") {
		s.Throttled = true
	}
	if b.lockConflict {
		s.Throttled = false // Azure: a lock conflict, not a throttle
		s.DoNotRetry = true
	}
	if b.insufficientQuota || b.perDay || b.quotaExceeded || b.spendLimit {
		s.DoNotRetry = true
	}
	for _, name := range [...]string{"X-Should-Retry", "Stripe-Should-Retry"} {
		if strings.EqualFold(strings.TrimSpace(h.Get(name)), "false") {
			s.DoNotRetry = true
		}
	}
	if !s.HasRetryAfter && b.hasRetryAfter && (s.Throttled || status >= 400) {
		s.RetryAfter, s.HasRetryAfter = secs(b.retryAfter), true
	}
	if d == DialectDiscord && (strings.EqualFold(h.Get("X-Ratelimit-Global"), "true") || b.global) {
		s.Global = true
	}
	if s.Throttled && d == DialectGitHub && !exhausted && !s.HasRetryAfter {
		s.Hint = githubSecondaryWait
	}
}

// githubSecondaryWait is GitHub's documented minimum wait after a secondary
// rate limit that names no wait.
const githubSecondaryWait = time.Minute
