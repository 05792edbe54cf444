package httpcache

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HitRevalidated is the CacheHeader value of a response rebuilt from a
// stored entry after the upstream answered a conditional request with 304
// Not Modified.
const HitRevalidated = "revalidated"

// HasValidator reports whether e can be revalidated: it has an ETag or a
// Last-Modified header.
func (e *Entry) HasValidator() bool {
	return e.header.Get("Etag") != "" || e.header.Get("Last-Modified") != ""
}

// MustRevalidate reports whether e may never be served stale: the response
// said must-revalidate, proxy-revalidate or no-cache (RFC 9111 5.2.2).
func (e *Entry) MustRevalidate() bool { return e.mustRevalidate }

// Vary returns the canonical names of the request headers the response
// varied on (its Vary header), sorted; nil when it named none.
func (e *Entry) Vary() []string { return slices.Clone(e.vary) }

// StaleWhileRevalidate reports whether e may be served, stale, at now
// while it is revalidated in the background: the response said
// stale-while-revalidate=N and now is less than N seconds past its expiry.
func (e *Entry) StaleWhileRevalidate(now time.Time) bool {
	return e.swr > 0 && !e.mustRevalidate && now.Before(e.expires.Add(e.swr))
}

// StaleWhileRevalidateWindow returns the stale-while-revalidate window the
// response gave (0 when none, or when it must be revalidated).
func (e *Entry) StaleWhileRevalidateWindow() time.Duration {
	if e.mustRevalidate {
		return 0
	}
	return e.swr
}

// Conditional returns a copy of req that asks the upstream to answer 304
// Not Modified if e is still current: If-None-Match with e's ETag and
// If-Modified-Since with its Last-Modified (RFC 9110 13.1). A request that
// carries its own conditional headers is returned unchanged.
func (e *Entry) Conditional(req *http.Request) *http.Request {
	if HasConditional(req) {
		return req
	}
	r := req.Clone(req.Context())
	if v := e.header.Get("Etag"); v != "" {
		r.Header.Set("If-None-Match", v)
	}
	if v := e.header.Get("Last-Modified"); v != "" {
		r.Header.Set("If-Modified-Since", v)
	}
	return r
}

// HasConditional reports whether req carries a conditional header of its
// own (If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since,
// If-Range). The Transport does not answer such requests from the cache:
// the caller is managing validators itself.
func HasConditional(req *http.Request) bool {
	for _, h := range [...]string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
		if _, ok := req.Header[h]; ok {
			return true
		}
	}
	return false
}

// Matches304 reports whether a 304 response with header h may refresh e
// (RFC 9111 4.3.4): when both carry an ETag they must be equal; otherwise
// a Last-Modified in h must equal e's.
func (e *Entry) Matches304(h http.Header) bool {
	if et := h.Get("Etag"); et != "" {
		return weakEqual(et, e.header.Get("Etag"))
	}
	if lm := h.Get("Last-Modified"); lm != "" && e.header.Get("Last-Modified") != "" {
		return lm == e.header.Get("Last-Modified")
	}
	return true
}

func weakEqual(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// notMerged are the header fields a 304 never updates in a stored entry
// (RFC 9111 3.2: hop-by-hop fields and Content-Length), plus sluice's own
// marker.
var notMerged = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Te": true,
	"Transfer-Encoding": true, "Upgrade": true, "Content-Length": true, CacheHeader: true,
}

// Refresh returns a new entry: e's status and body with its header updated
// by the header of a 304 Not Modified response (RFC 9111 3.2: each field
// the 304 carries replaces the stored one, except hop-by-hop fields, the
// fields its Connection header names, and Content-Length), fresh for ttl
// from now or less, as the merged Cache-Control and Age say. e is not
// changed.
func (e *Entry) Refresh(h http.Header, ttl time.Duration, now time.Time) *Entry {
	n := *e
	n.header = e.header.Clone()
	skip := map[string]bool{}
	for _, line := range h["Connection"] {
		for f := range strings.SplitSeq(line, ",") {
			skip[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(f))] = true
		}
	}
	for k, vs := range h {
		if notMerged[k] || skip[k] {
			continue
		}
		n.header[k] = slices.Clone(vs)
	}
	life, age := lifetime(n.header, ttl)
	if hasDirective(n.header, "no-cache") {
		life = 0
	}
	n.header.Del("Age")
	n.setFlags()
	n.stored, n.expires, n.initialAge = now, now.Add(max(life, 0)), age
	n.size = entryOverhead + int64(len(n.body)) + headerSize(n.header) + headerSize(n.trailer)
	return &n
}

// setFlags reads the revalidation directives and the Vary names from
// e.header.
func (e *Entry) setFlags() {
	h := e.header
	e.mustRevalidate = hasDirective(h, "must-revalidate") || hasDirective(h, "proxy-revalidate") || hasDirective(h, "no-cache")
	e.swr = 0
	if v, ok := directive(h, "stale-while-revalidate"); ok {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs > 0 {
			e.swr = time.Duration(min(secs, 1<<32)) * time.Second
		}
	}
	e.vary = varyNames(h)
}

// varyNames returns the canonical, sorted, distinct names in h's Vary
// header.
func varyNames(h http.Header) []string {
	var names []string
	for _, line := range h["Vary"] {
		for f := range strings.SplitSeq(line, ",") {
			if f = strings.TrimSpace(f); f != "" && f != "*" {
				names = append(names, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// VariantKey returns the key under which the variant of a response that
// varied on names is stored for req: base (req's Key) followed by req's
// values of those headers. Credential headers among names are already
// covered by base's fingerprint and are not written out.
func VariantKey(base string, req *http.Request, names []string) string {
	if len(names) == 0 {
		return base
	}
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("\nvariant:")
	writeVary(&b, req.Header, names, nil)
	return b.String()
}

// Lookup returns the entry for req stored under base (req's Key) by Store,
// following the response's Vary header: when the response stored under
// base varied on request headers, the entry returned is the one stored for
// req's values of them. key is the key the entry was found under (or
// would be stored under), for GetStale and Delete. It makes the entry the
// most recently used.
func (c *Cache) Lookup(base string, req *http.Request) (e *Entry, key string, ok bool) {
	e, _, ok = c.Get(base)
	if !ok || e.marker == nil {
		return e, base, ok
	}
	key = VariantKey(base, req, e.marker)
	e, _, ok = c.Get(key)
	return e, key, ok
}

// Store stores e for req under base (req's Key). When e's response varied
// on request headers, e goes under the variant key of req's values, and
// base holds a small marker naming the headers, so that requests with
// other values keep their own variants (RFC 9111 4.1). A nil e is ignored.
func (c *Cache) Store(base string, req *http.Request, e *Entry) {
	if e == nil {
		return
	}
	if len(e.vary) == 0 {
		c.Put(base, e)
		return
	}
	m := &Entry{marker: e.vary, header: http.Header{}, size: entryOverhead}
	m.stored, m.expires = e.stored, e.stored
	c.Put(base, m)
	c.Put(VariantKey(base, req, e.vary), e)
}
