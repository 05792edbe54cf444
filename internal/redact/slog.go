package redact

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// HeaderAttr returns a group attribute holding h redacted (see [Header]): one
// string attribute per header name, in sorted order, with multiple values
// joined by ", ".
func HeaderAttr(key string, h http.Header) slog.Attr {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	attrs := make([]slog.Attr, 0, len(names))
	for _, name := range names {
		vs := h[name]
		if IsSecretHeader(name) {
			red := make([]string, len(vs))
			for i, v := range vs {
				red[i] = Value(name, v)
			}
			vs = red
		}
		attrs = append(attrs, slog.String(name, strings.Join(vs, ", ")))
	}
	return slog.Attr{Key: key, Value: slog.GroupValue(attrs...)}
}

// URLAttr returns a string attribute holding u redacted (see [URL]).
func URLAttr(key string, u *url.URL) slog.Attr {
	return slog.String(key, URL(u))
}

// ErrorAttr returns a string attribute holding err's message redacted (see
// [Error]); a nil err gives an empty string.
func ErrorAttr(key string, err error) slog.Attr {
	if err == nil {
		return slog.String(key, "")
	}
	return slog.String(key, Error(err).Error())
}

// ReplaceAttr is a safety net for slog.HandlerOptions.ReplaceAttr: it
// redacts what reaches a handler unredacted.
//
//   - a string attribute whose key is a secret header or parameter name
//     (authorization, api_key, token) becomes [Redacted]; numbers, durations
//     and other non-string values keep theirs, so tokens_remaining=42 stays;
//   - URLs inside any other string are redacted (see [Text]);
//   - *url.URL and url.URL values are redacted as URLs, http.Header values
//     become a group as from [HeaderAttr], *http.Request values become
//     "METHOD redacted-url", and errors are redacted as by [Error].
//
// groups is ignored. Use it directly or call it from a ReplaceAttr of your
// own.
func ReplaceAttr(groups []string, a slog.Attr) slog.Attr {
	return replaceAttr(a, func(k string) bool { return IsSecretHeader(k) || IsSecretParam(k) })
}

// KeyMemo is [ReplaceAttr] for a handler that logs the same keys on every
// line (an access log): whether a key is a secret name is decided once per
// key, for up to 256 keys, instead of on every record. Its zero value is
// ready; it is safe for concurrent use.
type KeyMemo struct {
	secret sync.Map // key -> bool
	n      atomic.Int32
}

// ReplaceAttr is [ReplaceAttr] with the key decisions remembered.
func (m *KeyMemo) ReplaceAttr(groups []string, a slog.Attr) slog.Attr {
	return replaceAttr(a, m.isSecret)
}

func (m *KeyMemo) isSecret(k string) bool {
	if v, ok := m.secret.Load(k); ok {
		return v.(bool)
	}
	s := IsSecretHeader(k) || IsSecretParam(k)
	if m.n.Add(1) <= 256 {
		m.secret.Store(k, s)
	}
	return s
}

func replaceAttr(a slog.Attr, secretKey func(string) bool) slog.Attr {
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		if secretKey(a.Key) {
			if s == "" {
				return a
			}
			return slog.String(a.Key, Value(a.Key, s))
		}
		if safe := Text(s); safe != s {
			return slog.String(a.Key, safe)
		}
	case slog.KindAny:
		if l, ok := v.Any().(slog.Level); ok {
			// What the handlers print for a level, without the JSON
			// handler's reflection-based json.Marshal of a KindAny value.
			return slog.String(a.Key, l.String())
		}
		return replaceAny(a)
	}
	return a
}

// replaceAny redacts an attribute holding a value of kind slog.KindAny.
func replaceAny(a slog.Attr) slog.Attr {
	switch x := a.Value.Any().(type) {
	case *url.URL:
		return URLAttr(a.Key, x)
	case url.URL:
		return URLAttr(a.Key, &x)
	case http.Header:
		return HeaderAttr(a.Key, x)
	case *http.Request:
		if x == nil {
			return a
		}
		return slog.String(a.Key, x.Method+" "+URL(x.URL))
	case error:
		if x != nil {
			return ErrorAttr(a.Key, x)
		}
	}
	return a
}
