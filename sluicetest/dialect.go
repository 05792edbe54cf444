package sluicetest

import (
	"errors"
	"fmt"
	"strings"
)

// Dialect is how the provider reports its limit in response headers and
// throttle responses. The zero Dialect is DialectNone.
type Dialect int

// The dialects. Each mimics a real provider's headers, formats and quirks,
// as the providers document them and as package quota reads them.
const (
	// DialectNone sends a bare 429 with no rate-limit headers at all.
	DialectNone Dialect = iota
	// DialectRetryAfter adds "Retry-After: N" to throttles, N in whole
	// seconds rounded up (a 20 ms wait says 1), as most servers do.
	DialectRetryAfter
	// DialectRetryAfterDate adds "Retry-After: <HTTP-date>" to throttles,
	// the instant rounded up to the next whole second.
	DialectRetryAfterDate
	// DialectGitHub sends x-ratelimit-limit, -remaining, -used, -reset (epoch
	// seconds, rounded up) and -resource on every response, and throttles
	// with 403 (set Options.ThrottleStatus to 429 for GitHub's other form)
	// and a JSON body naming the rate-limit documentation. It sends
	// retry-after only when Options.RetryAfter is set.
	DialectGitHub
	// DialectOpenAI sends x-ratelimit-limit-requests, -remaining-requests and
	// -reset-requests on every response, plus the -tokens trio when
	// Options.TokenLimit is set. Resets are Go durations rounded up to the
	// millisecond ("1s", "6m0s", "12ms") measuring the time until the bucket
	// is full again. Throttles are 429 with a JSON body whose error.code is
	// "rate_limit_exceeded" and whose message says "Please try again in 1.2s".
	DialectOpenAI
	// DialectIETF sends the structured fields of
	// draft-ietf-httpapi-ratelimit-headers (-08 to -11) on every response:
	// RateLimit-Policy: "default";q=50;w=1 and RateLimit: "default";r=7;t=1,
	// where t is whole seconds (rounded up) until more quota is available,
	// omitted when the quota is full. The policy states the limit's rate as
	// a quota per whole-second window.
	DialectIETF
	// DialectShopify sends X-Shopify-Shop-Api-Call-Limit: used/capacity on
	// every response, and a fractional Retry-After ("2.0", "0.05") on 429s.
	DialectShopify
	// DialectNginx throttles like nginx limit_req: 503 with an HTML body and
	// no headers at all.
	DialectNginx
	// DialectStripe sends no quota headers and throttles with 429 and a JSON
	// body whose error.code is "rate_limit" and no Retry-After (unless
	// Options.RetryAfter). A POST with an Idempotency-Key is performed once:
	// a repeat with the same parameters gets the stored response again with
	// "Idempotent-Replayed: true" (counted in Stats.Replays, not in
	// Duplicates), one with other parameters a 400 idempotency_error, and
	// one while the first is still running a 409 idempotency_key_in_use.
	// The response of a request whose answer was lost (Faults.LostRatio) is
	// stored too, so that a retry with the same key recovers it.
	DialectStripe
)

var dialectNames = [...]string{
	DialectNone:           "none",
	DialectRetryAfter:     "retry-after",
	DialectRetryAfterDate: "retry-after-date",
	DialectGitHub:         "github",
	DialectOpenAI:         "openai",
	DialectIETF:           "ietf",
	DialectShopify:        "shopify",
	DialectNginx:          "nginx",
	DialectStripe:         "stripe",
}

// ErrUnknownDialect is returned by ParseDialect for a name it does not know.
var ErrUnknownDialect = errors.New("sluicetest: unknown dialect")

// Dialects returns every dialect, in declaration order.
func Dialects() []Dialect {
	ds := make([]Dialect, len(dialectNames))
	for i := range ds {
		ds[i] = Dialect(i)
	}
	return ds
}

// String returns the dialect's name as ParseDialect accepts it.
func (d Dialect) String() string {
	if d >= 0 && int(d) < len(dialectNames) {
		return dialectNames[d]
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// ParseDialect returns the dialect named s (case-insensitive), as printed by
// Dialect.String. "plain" is accepted for none. An unknown name yields an
// error matching ErrUnknownDialect.
func ParseDialect(s string) (Dialect, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	if name == "plain" {
		return DialectNone, nil
	}
	for i, n := range dialectNames {
		if n == name {
			return Dialect(i), nil
		}
	}
	return DialectNone, fmt.Errorf("%w %q (want one of %s)", ErrUnknownDialect, s, strings.Join(dialectNames[:], ", "))
}

// throttleStatus is the dialect's default status for a throttled request.
func (d Dialect) throttleStatus() int {
	switch d {
	case DialectGitHub:
		return 403
	case DialectNginx:
		return 503
	}
	return 429
}
