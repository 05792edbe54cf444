// Package redact decides which HTTP header and query-parameter names carry
// credentials and produces copies of headers, URLs, errors and log attributes
// with those values replaced by [Redacted].
//
// The rules lean toward redacting too much: a log line that hides a harmless
// value is a small cost, a log line that leaks an API key is not. Secrets that
// are not named as such (a token embedded in a URL path, for instance) cannot
// be recognised and are left alone.
package redact

import "strings"

// Redacted replaces every secret value.
const Redacted = "REDACTED"

// IsSecretHeader reports whether a header carries a credential. The match
// ignores case. The secret names are Authorization, Proxy-Authorization, Cookie and
// Set-Cookie; any name equal to Key or ending in -Key, _Key or ApiKey
// (X-Api-Key, Api-Key, X-Goog-Api-Key, Ocp-Apim-Subscription-Key, apikey);
// and any name containing Token, Secret, Password, Passwd, Signature,
// Credential or Auth (X-Auth-Token, X-Amz-Security-Token, Private-Token).
//
// A few well-known names that match those patterns but never carry a
// credential are not secret: rate-limit headers (any name containing
// RateLimit, such as x-ratelimit-remaining-tokens), WWW-Authenticate,
// Proxy-Authenticate, Idempotency-Key, X-Idempotency-Key and
// Sec-WebSocket-Key. Openai-Organization, Anthropic-Version and the like are
// not secret.
func IsSecretHeader(name string) bool {
	switch {
	case name == "":
		return false
	case containsFold(name, "ratelimit"),
		strings.EqualFold(name, "WWW-Authenticate"),
		strings.EqualFold(name, "Proxy-Authenticate"),
		strings.EqualFold(name, "Idempotency-Key"),
		strings.EqualFold(name, "X-Idempotency-Key"),
		strings.EqualFold(name, "Sec-WebSocket-Key"):
		return false
	case strings.EqualFold(name, "Cookie"),
		strings.EqualFold(name, "Set-Cookie"),
		strings.EqualFold(name, "Key"),
		hasSuffixFold(name, "-key"),
		hasSuffixFold(name, "_key"),
		hasSuffixFold(name, "apikey"):
		return true
	}
	return containsAnyFold(name, headerWords[:])
}

// headerWords are the fragments that make a header name secret. Authorization
// and Proxy-Authorization are covered by "auth". It is read-only.
var headerWords = [...]string{"token", "secret", "password", "passwd", "signature", "credential", "auth"}

// IsSecretParam reports whether a query parameter name looks like a
// credential. The match ignores case. The secret names are key,
// api_key, apikey, access_key, token, access_token, refresh_token, id_token,
// secret, client_secret, sig, signature, password, passwd, pwd, auth, jwt,
// session and sessionid; any name ending in _key, -key, apikey or accesskey,
// or in _sig or -sig; any name containing token, secret, password, passwd,
// signature or credential (X-Amz-Signature, X-Amz-Credential,
// X-Amz-Security-Token, oauth_token); and auth as a word or auth-prefixed
// word (auth_token, authorization, authentication) but not author.
//
// Page tokens (pageToken, page_token, next_page_token) and idempotency_key
// are not secret: they are cursors and identifiers, not credentials.
func IsSecretParam(name string) bool {
	switch {
	case name == "":
		return false
	case containsFold(name, "pagetoken"),
		containsFold(name, "page_token"),
		containsFold(name, "page-token"),
		strings.EqualFold(name, "idempotency_key"),
		strings.EqualFold(name, "idempotency-key"):
		return false
	}
	for _, w := range paramExact {
		if strings.EqualFold(name, w) {
			return true
		}
	}
	for _, s := range paramSuffixes {
		if hasSuffixFold(name, s) {
			return true
		}
	}
	if containsAnyFold(name, paramWords[:]) {
		return true
	}
	return containsFold(name, "authoriz") || containsFold(name, "authent") ||
		hasPrefixFold(name, "auth_") || hasPrefixFold(name, "auth-") ||
		hasSuffixFold(name, "_auth") || hasSuffixFold(name, "-auth")
}

// paramExact, paramSuffixes and paramWords drive IsSecretParam. They are
// read-only.
var (
	paramExact = [...]string{
		"key", "sig", "pwd", "auth", "jwt", "session", "sessionid", "session_id", "session-id",
	}
	paramSuffixes = [...]string{"_key", "-key", "apikey", "accesskey", "_sig", "-sig"}
	paramWords    = [...]string{"token", "secret", "password", "passwd", "signature", "credential"}
)

// containsAnyFold reports whether s contains any of words, ignoring ASCII
// case. words must be lower case.
func containsAnyFold(s string, words []string) bool {
	for _, w := range words {
		if containsFold(s, w) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains sub, ignoring ASCII case. sub must be
// lower case. It does not allocate.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalLower(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// hasSuffixFold reports whether s ends with suffix, ignoring ASCII case.
// suffix must be lower case.
func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && equalLower(s[len(s)-len(suffix):], suffix)
}

// hasPrefixFold reports whether s begins with prefix, ignoring ASCII case.
// prefix must be lower case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalLower(s[:len(prefix)], prefix)
}

// equalLower reports whether s equals lower, ignoring ASCII case in s. lower
// must be lower case and as long as s.
func equalLower(s, lower string) bool {
	for i := 0; i < len(s); i++ {
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
