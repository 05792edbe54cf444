package quota

import "net/http"

// quotaPrefixes are the header names, or name prefixes, that any dialect
// reads, lower-case. A header whose name starts with none of them says
// nothing about quota: Age and Date only qualify what the others say.
var quotaPrefixes = [...]string{
	"x-ratelimit",                   // GitHub, OpenAI, Discord, Reddit, generic, X-RateLimit-*
	"x-rate-limit-",                 // X
	"x-app-limit-24hour-",           // X
	"x-user-limit-24hour-",          // X
	"anthropic-ratelimit-",          // Anthropic
	"x-shopify-shop-api-call-limit", // Shopify
	"x-ms-ratelimit-",               // Azure
	"x-ms-retry-after-ms",           // Azure
	"ratelimit",                     // IETF, GitLab
	"beta-ratelimit",                // IETF under Atlassian's prefix
	"retry-after",                   // Retry-After, Retry-After-Ms
	"x-envoy-ratelimited",           // Envoy
	"x-should-retry",                // OpenAI, Anthropic SDK hint
	"stripe-should-retry",           // Stripe
}

// quiet reports whether a response with this status and header says
// nothing Parse would read: a status below 400, no quota-related header,
// and no reason to read the body (Shopify's GraphQL throttles are 200s).
// It makes one pass over the header names and does not allocate, so that
// the common plain response costs next to nothing.
func quiet(status int, h http.Header, d Dialect) bool {
	if status >= 400 || d == DialectShopify {
		return false
	}
	for k := range h {
		if quotaName(k) {
			return false
		}
	}
	return true
}

// quotaName reports whether the header name k starts with one of
// quotaPrefixes, ignoring ASCII case.
func quotaName(k string) bool {
	if k == "" {
		return false
	}
	switch k[0] | 0x20 {
	case 'x', 'a', 'r', 'b', 's':
	default:
		return false // most names (Content-*, Date, Cache-Control, ...) end here
	}
	for _, p := range quotaPrefixes {
		if hasPrefixFold(k, p) {
			return true
		}
	}
	return false
}

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix,
// ignoring ASCII case.
func hasPrefixFold(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
