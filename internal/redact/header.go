package redact

import (
	"net/http"
	"strings"
)

// Header returns a copy of h in which the value of every secret header (see
// [IsSecretHeader]) is replaced by [Redacted]. An Authorization or
// Proxy-Authorization value keeps its scheme ("Bearer REDACTED") so logs still
// show which kind of credential was sent. h is not modified; nil gives nil.
func Header(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	out := make(http.Header, len(h))
	for name, values := range h {
		vs := make([]string, len(values))
		if IsSecretHeader(name) {
			for i, v := range values {
				vs[i] = Value(name, v)
			}
		} else {
			copy(vs, values)
		}
		out[name] = vs
	}
	return out
}

// Value returns value redacted as the value of header name: value itself when
// name is not secret, [Redacted] when it is, and "scheme REDACTED" for an
// Authorization or Proxy-Authorization value of the form "scheme credentials".
func Value(name, value string) string {
	if !IsSecretHeader(name) {
		return value
	}
	if strings.EqualFold(name, "Authorization") || strings.EqualFold(name, "Proxy-Authorization") {
		if scheme, _, ok := strings.Cut(value, " "); ok && isToken(scheme) {
			return scheme + " " + Redacted
		}
	}
	return Redacted
}

// isToken reports whether s looks like an HTTP authentication scheme name: 1
// to 20 letters, digits or dashes.
func isToken(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
