package redact

import (
	"net/url"
	"strings"
)

// URL returns u as a string with every secret query value (see
// [IsSecretParam]) replaced by [Redacted], in the query and in a
// query-shaped fragment (#access_token=...). A userinfo password is replaced
// by [Redacted]; a userinfo with a user name but no password
// (https://sk_live_123@api.example.com, as some APIs take their key) has the
// user name replaced instead. u is not modified; nil gives "".
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	v := *u
	if v.User != nil {
		if _, ok := v.User.Password(); ok {
			v.User = url.UserPassword(v.User.Username(), Redacted)
		} else if v.User.Username() != "" {
			v.User = url.User(Redacted)
		}
	}
	v.RawQuery = RawQuery(v.RawQuery)
	if v.Fragment == "" {
		return v.String()
	}
	frag := RawQuery(v.EscapedFragment())
	v.Fragment, v.RawFragment = "", ""
	return v.String() + "#" + frag
}

// URLString is [URL] for a URL held as a string. A URL with nothing to
// redact is returned as is. When s does not parse, the part after the first
// '?' is redacted as a query.
func URLString(s string) string {
	if !strings.ContainsAny(s, "@?#") {
		return s // no user info, query or fragment: nothing to redact
	}
	if u, err := url.Parse(s); err == nil {
		if u.User == nil && !hasSecretParam(u.RawQuery) && !hasSecretParam(u.EscapedFragment()) {
			return s
		}
		return URL(u)
	}
	base, query, ok := strings.Cut(s, "?")
	if !ok {
		return s
	}
	return base + "?" + RawQuery(query)
}

// RawQuery returns the encoded query string raw with the value of every
// secret parameter replaced by [Redacted]. Both & and ; are taken as
// separators, so a server that splits on ; cannot be handed a secret that
// was logged. Everything else is kept byte for byte; a query without secrets
// is returned as is.
func RawQuery(raw string) string {
	if !hasSecretParam(raw) {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	for raw != "" {
		i := strings.IndexAny(raw, "&;")
		piece, sep := raw, ""
		if i >= 0 {
			piece, sep, raw = raw[:i], raw[i:i+1], raw[i+1:]
		} else {
			raw = ""
		}
		name, _, hasValue := strings.Cut(piece, "=")
		if hasValue && IsSecretParam(unescape(name)) {
			piece = name + "=" + Redacted
		}
		b.WriteString(piece)
		b.WriteString(sep)
	}
	return b.String()
}

// hasSecretParam reports whether the encoded query raw has a secret parameter
// with a value.
func hasSecretParam(raw string) bool {
	for raw != "" {
		piece := raw
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			piece, raw = raw[:i], raw[i+1:]
		} else {
			raw = ""
		}
		if name, _, ok := strings.Cut(piece, "="); ok && IsSecretParam(unescape(name)) {
			return true
		}
	}
	return false
}

// unescape decodes a query parameter name, returning it unchanged when it is
// not validly escaped.
func unescape(name string) string {
	if !strings.ContainsAny(name, "%+") {
		return name
	}
	if n, err := url.QueryUnescape(name); err == nil {
		return n
	}
	return name
}

// Text returns s with every URL embedded in it (anything of the form
// scheme://... up to white space, a quote or an angle bracket) redacted as by
// [URLString]. Text without URLs is returned as is.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			break
		}
		start := i
		for start > 0 && isSchemeByte(rest[start-1]) {
			start--
		}
		end := i + len("://")
		for end < len(rest) && !isURLEnd(rest[end]) {
			end++
		}
		b.WriteString(rest[:start])
		b.WriteString(URLString(rest[start:end]))
		rest = rest[end:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(rest)
	return b.String()
}

// isSchemeByte reports whether c may appear in a URL scheme.
func isSchemeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// isURLEnd reports whether c ends a URL embedded in text.
func isURLEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', '<', '>', '`':
		return true
	}
	return false
}

// Error returns err with every URL in its message redacted (see [Text]), as
// http.Client errors read `Get "https://api.example.com/?api_key=...": ...`.
// The result wraps err, so errors.Is and errors.As still see everything err
// did. When nothing needs redacting, or err is nil, err itself is returned.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	safe := Text(msg)
	if safe == msg {
		return err
	}
	return &redactedError{msg: safe, err: err}
}

// redactedError is an error whose message has been redacted.
type redactedError struct {
	msg string
	err error
}

// Error returns the redacted message.
func (e *redactedError) Error() string { return e.msg }

// Unwrap returns the original error.
func (e *redactedError) Unwrap() error { return e.err }
