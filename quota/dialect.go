package quota

import (
	"fmt"
	"net/http"
	"strings"
)

// Dialect names a provider's way of stating its quota in response headers.
type Dialect string

// The dialects Parse understands.
const (
	// DialectAuto detects the dialect from the headers. The empty Dialect
	// (the zero value) means the same.
	DialectAuto Dialect = "auto"
	// DialectNone reads no headers at all: only the status (429) says
	// whether a response is a throttle.
	DialectNone Dialect = "none"
	// DialectRetryAfter reads Retry-After (and its millisecond variants)
	// only.
	DialectRetryAfter Dialect = "retry-after"
	// DialectIETF reads RateLimit-Policy and RateLimit
	// (draft-ietf-httpapi-ratelimit-headers -08 to -11), the -07 form, and
	// the RateLimit-Limit/-Remaining/-Reset headers of -06 and earlier.
	DialectIETF Dialect = "ietf"
	// DialectGitHub reads x-ratelimit-* with epoch reset and resource.
	DialectGitHub Dialect = "github"
	// DialectOpenAI reads x-ratelimit-{limit,remaining,reset}-{requests,tokens}.
	DialectOpenAI Dialect = "openai"
	// DialectAnthropic reads anthropic-ratelimit-*.
	DialectAnthropic Dialect = "anthropic"
	// DialectX reads X's x-rate-limit-* and x-{app,user}-limit-24hour-*.
	DialectX Dialect = "x"
	// DialectReddit reads X-Ratelimit-Used/-Remaining/-Reset.
	DialectReddit Dialect = "reddit"
	// DialectDiscord reads X-RateLimit-* with Bucket, Reset-After and Global.
	DialectDiscord Dialect = "discord"
	// DialectShopify reads X-Shopify-Shop-Api-Call-Limit and GraphQL
	// throttle status.
	DialectShopify Dialect = "shopify"
	// DialectAzure reads x-ms-ratelimit-remaining-*.
	DialectAzure Dialect = "azure"
	// DialectGitLab reads RateLimit-* with epoch RateLimit-Reset.
	DialectGitLab Dialect = "gitlab"
	// DialectGeneric reads X-RateLimit-Limit/-Remaining/-Reset, guessing
	// the reset's form (epoch seconds or ms, delta seconds, timestamp).
	DialectGeneric Dialect = "generic"
)

var dialects = [...]Dialect{
	DialectAuto, DialectNone, DialectRetryAfter, DialectIETF, DialectGitHub,
	DialectOpenAI, DialectAnthropic, DialectX, DialectReddit, DialectDiscord,
	DialectShopify, DialectAzure, DialectGitLab, DialectGeneric,
}

// ParseDialect returns the Dialect named s (case-insensitive; "" is
// DialectAuto), or an error naming the valid choices.
func ParseDialect(s string) (Dialect, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return DialectAuto, nil
	}
	for _, d := range dialects {
		if string(d) == s {
			return d, nil
		}
	}
	names := make([]string, len(dialects))
	for i, d := range dialects {
		names[i] = string(d)
	}
	return "", fmt.Errorf("quota: unknown dialect %q (want one of %s)", s, strings.Join(names, ", "))
}

// has reports whether any of the named headers is present. The names must
// be in canonical form (as every caller's literals are): they are looked
// up directly, without Header.Values' canonicalisation.
func has(h http.Header, names ...string) bool {
	for _, n := range names {
		if len(h[n]) > 0 {
			return true
		}
	}
	return false
}

// hasPrefix reports whether a header name starts with prefix, ignoring case.
func hasPrefix(h http.Header, prefix string) bool {
	for k := range h {
		if len(k) >= len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			return true
		}
	}
	return false
}

// detect picks the dialect of a response, most specific first: the vendor
// dialects with headers no one else sends, then the ones that share the
// X-RateLimit-* names (Discord, GitHub, Reddit, told apart by their extra
// headers), then GitLab before IETF (same names, epoch reset), then
// generic X-RateLimit-*, then bare Retry-After.
func detect(h http.Header) Dialect {
	switch {
	case has(h, "X-Ratelimit-Bucket", "X-Ratelimit-Reset-After", "X-Ratelimit-Global", "X-Ratelimit-Scope"):
		return DialectDiscord
	case has(h, "X-Ratelimit-Resource") || has(h, "X-Github-Request-Id") && has(h, "X-Ratelimit-Limit"):
		return DialectGitHub
	case has(h, "X-Ratelimit-Used") && !has(h, "X-Ratelimit-Limit"):
		return DialectReddit
	case hasPrefix(h, "X-Ratelimit-Limit-") || hasPrefix(h, "X-Ratelimit-Remaining-") || hasPrefix(h, "X-Ratelimit-Reset-"):
		return DialectOpenAI
	case hasPrefix(h, "Anthropic-Ratelimit-"):
		return DialectAnthropic
	case hasPrefix(h, "X-Rate-Limit-") || hasPrefix(h, "X-App-Limit-24hour-") || hasPrefix(h, "X-User-Limit-24hour-"):
		return DialectX
	case has(h, "X-Shopify-Shop-Api-Call-Limit"):
		return DialectShopify
	case hasPrefix(h, "X-Ms-Ratelimit-Remaining-"):
		return DialectAzure
	case has(h, "Ratelimit-Observed", "Ratelimit-Resettime") || isEpoch(h, "Ratelimit-Reset"):
		return DialectGitLab
	case has(h, "Ratelimit", "Ratelimit-Policy", "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset",
		"Beta-Ratelimit", "Beta-Ratelimit-Policy"):
		return DialectIETF
	case has(h, "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset"):
		return DialectGeneric
	case has(h, "Retry-After", "Retry-After-Ms", "X-Ms-Retry-After-Ms"):
		return DialectRetryAfter
	}
	return DialectNone
}

// isEpoch reports whether a header holds a number large enough to be epoch
// seconds.
func isEpoch(h http.Header, name string) bool {
	v, ok := headerNum(h, name)
	return ok && v >= epochSecMin
}
