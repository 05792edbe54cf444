package h1

import (
	"fmt"
	"net/http"
	"strings"
)

// checkHeader refuses a field name that is not a token and a field value
// with a control character other than tab (CR, LF and NUL among them), as
// net/http's Transport does. The error names the field, never its value,
// which may be a credential.
func (t *Transport) checkHeader(h http.Header) error {
	for k, vs := range h {
		if t.omitted(k) {
			continue // never sent, as omitConsumer removes it before net/http looks
		}
		if !token(k) {
			return fmt.Errorf("h1: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !validValue(v) {
				return fmt.Errorf("h1: invalid header field value for %q", k)
			}
		}
	}
	return nil
}

// skip reports whether the header k is left out of the header loop: the
// framing fields this Transport writes itself, in any case (a
// non-canonical "content-length" key must not add a second length, nor
// "host" a second Host), User-Agent (written first) and Omit.
func (t *Transport) skip(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	if t.omitted(k) {
		return true
	}
	switch len(k) {
	case len("Host"), len("Trailer"), len("User-Agent"), len("Content-Length"), len("Transfer-Encoding"):
		for _, f := range [...]string{"Host", "Trailer", "User-Agent", "Content-Length", "Transfer-Encoding"} {
			if strings.EqualFold(k, f) {
				return true
			}
		}
	}
	return false
}

// omitted reports whether k names Omit, in any case.
func (t *Transport) omitted(k string) bool {
	return t.Omit != "" && len(k) == len(t.Omit) && (k == t.Omit || strings.EqualFold(k, t.Omit))
}

// token reports whether s is an RFC 9110 token (a method or field name).
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}
