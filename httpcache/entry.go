package httpcache

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header values set on responses served from the cache.
const (
	// CacheHeader is set to "hit" on a response from Entry.Response and to
	// "stale" on one from Entry.StaleResponse.
	CacheHeader = "X-Sluice-Cache"
	// FromCacheHeader is set to "1" on every response served from the
	// cache (fresh or stale), the marker gregjones/httpcache sets and
	// SDKs such as go-github read to skip updating their rate view.
	FromCacheHeader = "X-From-Cache"
	// StaleWarning is the Warning header value of a stale response.
	StaleWarning = `110 - "Response is Stale"`
)

// entryOverhead approximates the memory of an Entry besides its body and
// header strings.
const entryOverhead = 256

// Entry is an immutable snapshot of a response: status, header, trailer,
// body, when it was stored and when it stops being fresh. Make one with
// Snapshot; turn it back into responses with Response and StaleResponse.
type Entry struct {
	status     int
	statusText string
	proto      string
	protoMajor int
	protoMinor int
	header     http.Header
	trailer    http.Header
	body       []byte
	stored     time.Time
	expires    time.Time
	initialAge time.Duration // Age the upstream reported when stored
	size       int64

	// Read from header by setFlags.
	mustRevalidate bool          // must-revalidate, proxy-revalidate or no-cache
	swr            time.Duration // stale-while-revalidate
	vary           []string      // the response's Vary names

	// marker, when not nil, makes the entry a placeholder stored under a
	// request's base key, naming the headers its variants are keyed by.
	marker []string
}

// StatusCode returns the stored status code.
func (e *Entry) StatusCode() int { return e.status }

// Header returns a copy of the stored header.
func (e *Entry) Header() http.Header { return e.header.Clone() }

// Body returns a copy of the stored body.
func (e *Entry) Body() []byte { return bytes.Clone(e.body) }

// Stored returns when the entry was made.
func (e *Entry) Stored() time.Time { return e.stored }

// Expires returns when the entry stops being fresh.
func (e *Entry) Expires() time.Time { return e.expires }

// Size returns the bytes the entry is charged for in a Cache: body, header
// and trailer names and values, and a fixed overhead.
func (e *Entry) Size() int64 { return e.size }

// Fresh reports whether the entry is fresh at now.
func (e *Entry) Fresh(now time.Time) bool { return now.Before(e.expires) }

// Storable reports whether resp may be stored: a status that RFC 9110
// calls heuristically cacheable (200, 203, 204, 300, 301, 308, 404, 405,
// 410, 414, 501; not 206, since Range requests are not cached), and none of
// "Cache-Control: no-store", "Vary: *" or Set-Cookie. A response saying
// "Cache-Control: no-cache" is stored only when it has a validator (ETag or
// Last-Modified): it is then revalidated before every use.
//
// "Cache-Control: private" does not prevent storing: keys carry a
// fingerprint of the credential, so the response is only served again to
// requests with the same credential. A response's Vary header is honoured
// by Cache.Store and Cache.Lookup, which keep one variant per set of values
// of the named request headers.
func Storable(resp *http.Response) bool {
	if resp == nil {
		return false
	}
	switch resp.StatusCode {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
	default:
		return false
	}
	if _, ok := resp.Header["Set-Cookie"]; ok {
		return false
	}
	for _, v := range resp.Header["Vary"] {
		if strings.TrimSpace(v) == "*" {
			return false
		}
	}
	if hasDirective(resp.Header, "no-store") {
		return false
	}
	return !hasDirective(resp.Header, "no-cache") || hasValidator(resp.Header)
}

func hasValidator(h http.Header) bool {
	return h.Get("Etag") != "" || h.Get("Last-Modified") != ""
}

// lifetime returns how long resp may stay fresh: ttl, lowered by its
// Cache-Control max-age minus its Age. An invalid max-age gives 0.
func lifetime(h http.Header, ttl time.Duration) (time.Duration, time.Duration) {
	var age time.Duration
	if a, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil && a > 0 {
		age = time.Duration(min(a, 1<<32)) * time.Second
	}
	if v, ok := directive(h, "max-age"); ok {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs < 0 {
			return 0, age
		}
		ttl = min(ttl, time.Duration(min(secs, 1<<32))*time.Second-age)
	}
	return ttl, age
}

// Snapshot reads resp's body, up to maxBytes, into an Entry fresh for ttl
// from now (or less, if the response's Cache-Control max-age minus its Age
// says so). It always returns a replacement response r for the caller, a
// copy of resp whose Body replays everything resp's body holds; resp's
// body must not be used afterwards.
//
// A response with a validator (ETag or Last-Modified) is kept even when
// its lifetime is not positive or it says no-cache: the entry is stale at
// once and is revalidated before use.
//
// e is nil, with r still complete, when the response must not be kept:
// its lifetime is not positive and it has no validator, it says no-store,
// or its body is larger than maxBytes (then r replays the bytes read and streams the rest, and
// closing r's body closes resp's). If reading fails, e is nil, err is the
// read error, and r's body replays the bytes read and then fails with err.
// Snapshot does not check Storable.
func Snapshot(resp *http.Response, ttl time.Duration, now time.Time, maxBytes int64) (e *Entry, r *http.Response, err error) {
	if resp == nil {
		return nil, nil, errors.New("httpcache: Snapshot of a nil response")
	}
	life, age := lifetime(resp.Header, ttl)
	if hasDirective(resp.Header, "no-cache") {
		life = 0
	}
	if (life <= 0 && !hasValidator(resp.Header)) || hasDirective(resp.Header, "no-store") || maxBytes < 0 {
		return nil, resp, nil
	}
	maxBytes = min(maxBytes, math.MaxInt64-1)
	r = new(http.Response)
	*r = *resp
	if resp.Body == nil || resp.Body == http.NoBody {
		r.Body = http.NoBody
	} else {
		buf, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
		switch {
		case rerr != nil:
			r.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(buf), errReader{rerr}), c: resp.Body}
			return nil, r, rerr
		case int64(len(buf)) > maxBytes:
			r.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(buf), resp.Body), c: resp.Body}
			return nil, r, nil
		}
		resp.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(buf))
		r.ContentLength = int64(len(buf))
		e = newEntry(resp, buf)
	}
	if e == nil {
		e = newEntry(resp, nil)
	}
	e.stored, e.expires, e.initialAge = now, now.Add(max(life, 0)), age
	e.setFlags()
	return e, r, nil
}

func newEntry(resp *http.Response, body []byte) *Entry {
	e := &Entry{
		status: resp.StatusCode, statusText: resp.Status,
		proto: resp.Proto, protoMajor: resp.ProtoMajor, protoMinor: resp.ProtoMinor,
		header: resp.Header.Clone(), trailer: resp.Trailer.Clone(), body: body,
	}
	if e.header == nil {
		e.header = http.Header{}
	}
	e.header.Del("Age")
	e.size = entryOverhead + int64(len(body)) + headerSize(e.header) + headerSize(e.trailer)
	return e
}

func headerSize(h http.Header) int64 {
	var n int64
	for k, vs := range h {
		n += int64(len(k))
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	return n
}

// Response returns a new response built from e for req, as
// ResponseAt(req, time.Now()).
func (e *Entry) Response(req *http.Request) *http.Response {
	return e.ResponseAt(req, time.Now())
}

// ResponseAt returns a new response built from e for req: its own body
// reader, a copy of the header with Age set to the entry's age at now (the
// upstream's Age plus the time since it was stored) and X-Sluice-Cache set
// to "hit" (and X-From-Cache to "1"), and Request set to req.
func (e *Entry) ResponseAt(req *http.Request, now time.Time) *http.Response {
	age := e.initialAge + max(0, now.Sub(e.stored))
	r := &http.Response{
		Status: e.statusText, StatusCode: e.status,
		Proto: e.proto, ProtoMajor: e.protoMajor, ProtoMinor: e.protoMinor,
		Header: e.header.Clone(), Trailer: e.trailer.Clone(),
		Body: http.NoBody, ContentLength: int64(len(e.body)),
		Request: req,
	}
	if len(e.body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(e.body))
	}
	if r.Status == "" {
		r.Status = strconv.Itoa(e.status) + " " + http.StatusText(e.status)
	}
	if r.Proto == "" {
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	}
	r.Header.Set("Age", strconv.FormatInt(int64(age/time.Second), 10))
	r.Header.Set(CacheHeader, "hit")
	r.Header.Set(FromCacheHeader, "1")
	return r
}

// StaleResponse returns a response built from e like Response, marked as
// stale: X-Sluice-Cache is "stale" and a Warning header says
// 110 - "Response is Stale" (RFC 7234's warning code; RFC 9111 dropped the
// Warning header, but clients still recognise it).
func (e *Entry) StaleResponse(req *http.Request) *http.Response {
	return e.StaleResponseAt(req, time.Now())
}

// StaleResponseAt is StaleResponse with the Age computed at now.
func (e *Entry) StaleResponseAt(req *http.Request, now time.Time) *http.Response {
	r := e.ResponseAt(req, now)
	r.Header.Set(CacheHeader, "stale")
	r.Header.Add("Warning", StaleWarning)
	return r
}

// replayBody reads Reader and closes c.
type replayBody struct {
	io.Reader
	c io.Closer
}

func (b *replayBody) Close() error { return b.c.Close() }

// errReader fails every Read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
