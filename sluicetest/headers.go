package sluicetest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// decision is the limit's verdict on one request, with what the dialects
// need to describe it. It is built under the provider's mu and written to
// the response after the lock is released.
type decision struct {
	now      time.Time
	accepted bool
	wait     time.Duration // until the request could pass; rejections only
	cost     int
	req      quota // the request limit, if hasReq
	hasReq   bool
	tok      quota // the token limit, if hasTok
	hasTok   bool
	byTokens bool // rejected by the token limit rather than the request limit

	secondary   bool        // refused by Options.Secondary; wait is its penalty left
	notModified bool        // answered 304
	idem        idemVerdict // DialectStripe keyed requests, accepted only
}

// setLimitHeaders sets the headers a dialect sends on every response,
// accepted or throttled.
func (p *Provider) setLimitHeaders(h http.Header, d *decision) {
	q := d.req
	switch p.opts.Dialect {
	case DialectGitHub:
		if !d.hasReq {
			return
		}
		h.Set("X-Ratelimit-Limit", strconv.Itoa(q.limit))
		h.Set("X-Ratelimit-Remaining", strconv.Itoa(q.remaining))
		h.Set("X-Ratelimit-Used", strconv.Itoa(q.used))
		h.Set("X-Ratelimit-Reset", strconv.FormatInt(ceilSecond(d.now.Add(q.full)).Unix(), 10))
		h.Set("X-Ratelimit-Resource", p.resource("core"))
	case DialectOpenAI:
		if d.hasReq {
			h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(q.limit))
			h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(q.remaining))
			h.Set("X-Ratelimit-Reset-Requests", goDuration(q.full))
		}
		if d.hasTok {
			h.Set("X-Ratelimit-Limit-Tokens", strconv.Itoa(d.tok.limit))
			h.Set("X-Ratelimit-Remaining-Tokens", strconv.Itoa(d.tok.remaining))
			h.Set("X-Ratelimit-Reset-Tokens", goDuration(d.tok.full))
		}
	case DialectIETF:
		if !d.hasReq {
			return
		}
		name := sfString(p.resource("default"))
		qv, w := p.opts.Limit.policy()
		h.Set("Ratelimit-Policy", fmt.Sprintf("%s;q=%d;w=%d", name, qv, w))
		v := fmt.Sprintf("%s;r=%d", name, q.remaining)
		if q.next > 0 {
			v += fmt.Sprintf(";t=%d", ceilSeconds(q.next))
		}
		h.Set("Ratelimit", v)
	case DialectShopify:
		if d.hasReq {
			h.Set("X-Shopify-Shop-Api-Call-Limit", fmt.Sprintf("%d/%d", q.used, q.limit))
		}
	}
}

// throttle writes the headers and body of a throttled response and returns
// its status.
func (p *Provider) throttle(h http.Header, d *decision) (status int, body []byte) {
	status = p.opts.ThrottleStatus
	if status == 0 {
		status = p.opts.Dialect.throttleStatus()
	}
	var ctype string
	switch p.opts.Dialect {
	case DialectRetryAfter:
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(d.wait), 10))
	case DialectRetryAfterDate:
		h.Set("Retry-After", ceilSecond(d.now.Add(d.wait)).UTC().Format(http.TimeFormat))
	case DialectShopify:
		h.Set("Retry-After", fracSeconds(d.wait))
		ctype = "application/json; charset=utf-8"
		body = fmt.Appendf(nil, `{"errors":"Exceeded %g calls per second for api client. Reduce request rates to resume uninterrupted service."}`,
			p.opts.Limit.rate)
	case DialectGitHub:
		ctype = "application/json; charset=utf-8"
		body = fmt.Appendf(nil, `{"message":"API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api","status":"%d"}`, status)
	case DialectOpenAI:
		ctype = "application/json; charset=utf-8"
		kind, q, unit := "requests", d.req, "requests per min (RPM)"
		if d.byTokens {
			kind, q, unit = "tokens", d.tok, "tokens per min (TPM)"
		}
		body = fmt.Appendf(nil, `{"error":{"message":"Rate limit reached for sluicetest-model in organization org-sluicetest on %s: Limit %d, Used %d, Requested %d. Please try again in %s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":%q,"param":null,"code":"rate_limit_exceeded"}}`,
			unit, q.limit, q.used, d.cost, goDuration(d.wait), kind)
	case DialectIETF:
		ctype = "application/problem+json"
		body = fmt.Appendf(nil, `{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Request cannot be satisfied as assigned quota has been exceeded","status":%d,"violated-policies":[%q]}`,
			status, p.resource("default"))
	case DialectStripe:
		ctype = "application/json"
		body = []byte(stripeThrottle)
	case DialectNginx:
		ctype = "text/html"
		text := http.StatusText(status)
		if status == 503 {
			text = "Service Temporarily Unavailable"
		}
		body = fmt.Appendf(nil, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
			status, text, status, text)
	}
	if p.opts.RetryAfter && h.Get("Retry-After") == "" && p.opts.Dialect != DialectNginx && p.opts.Dialect != DialectNone {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(d.wait), 10))
	}
	if body == nil {
		ctype = "text/plain; charset=utf-8"
		body = []byte(http.StatusText(status) + "\n")
	}
	h.Set("Content-Type", ctype)
	return status, body
}

// resource returns Options.Resource made safe for a header value, or def.
func (p *Provider) resource(def string) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' || r == ',' || r == ';' {
			return -1
		}
		return r
	}, p.opts.Resource)
	if s == "" {
		return def
	}
	return s
}

// sfString quotes s as a structured-field String (RFC 9651); s has no quote
// or backslash (see resource).
func sfString(s string) string { return `"` + s + `"` }

// ceilSeconds returns d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// retryAfterSeconds is the delay-seconds form of Retry-After: rounded up,
// and at least 1 since a throttle is never lifted at once.
func retryAfterSeconds(d time.Duration) int64 { return max(1, ceilSeconds(d)) }

// ceilSecond rounds t up to a whole second.
func ceilSecond(t time.Time) time.Time {
	if tt := t.Truncate(time.Second); tt.Before(t) {
		return tt.Add(time.Second)
	}
	return t
}

// ceilMilli rounds d up to a whole millisecond.
func ceilMilli(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
}

// goDuration formats d as OpenAI does: a Go duration rounded up to the
// millisecond, "0s" when zero.
func goDuration(d time.Duration) string { return ceilMilli(max(d, 0)).String() }

// fracSeconds formats d as Shopify's fractional Retry-After: seconds with
// millisecond precision and at least one decimal ("2.0", "0.05").
func fracSeconds(d time.Duration) string {
	s := strconv.FormatFloat(float64(ceilMilli(max(d, 0)))/1e9, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
