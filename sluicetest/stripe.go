package sluicetest

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
)

// idemAsk is a DialectStripe request's Idempotency-Key and a hash of its
// parameters (method, path and body).
type idemAsk struct {
	key    uint64
	params uint64
	raw    string // the key as sent, for the error message
}

// idemKind is what DialectStripe does with a keyed request.
type idemKind uint8

const (
	idemFresh    idemKind = iota // first use of the key: perform and store
	idemReplay                   // answer with the stored response
	idemMismatch                 // the key was used with other parameters: 400
	idemInUse                    // the key's first request is still running: 409
)

// idemVerdict is decide's answer for a keyed request.
type idemVerdict struct {
	kind   idemKind
	ask    *idemAsk
	stored *storedResponse // idemReplay
}

// storedResponse is what DialectStripe keeps of a keyed request's answer.
type storedResponse struct {
	status int
	header http.Header
	body   []byte
}

// idemEntry is one key's record: nil resp while its request runs.
type idemEntry struct {
	params uint64
	resp   *storedResponse
}

// idemStore is a bounded map of Idempotency-Keys to their stored responses;
// when full, the oldest key is forgotten (Stripe keeps keys 24 hours). It is
// not safe for concurrent use.
type idemStore struct {
	m     map[uint64]*idemEntry
	order []uint64
	next  int
}

func newIdemStore(n int) idemStore {
	return idemStore{m: make(map[uint64]*idemEntry), order: make([]uint64, 0, n)}
}

// begin looks up a keyed request and, on first use, records it as running.
func (s *idemStore) begin(a *idemAsk) idemVerdict {
	v := idemVerdict{ask: a}
	if e, ok := s.m[a.key]; ok {
		switch {
		case e.params != a.params:
			v.kind = idemMismatch
		case e.resp == nil:
			v.kind = idemInUse
		default:
			v.kind, v.stored = idemReplay, e.resp
		}
		return v
	}
	if cap(s.order) == 0 {
		return v
	}
	if len(s.order) < cap(s.order) {
		s.order = append(s.order, a.key)
	} else {
		delete(s.m, s.order[s.next])
		s.order[s.next] = a.key
		s.next = (s.next + 1) % len(s.order)
	}
	s.m[a.key] = &idemEntry{params: a.params}
	return v
}

// finish stores the response of a key's first request, or forgets the key
// when the request produced none (resp nil), so that it may be retried.
func (s *idemStore) finish(a *idemAsk, resp *storedResponse) {
	e, ok := s.m[a.key]
	if !ok || e.params != a.params || e.resp != nil {
		return
	}
	if resp == nil {
		delete(s.m, a.key) // its slot in order is reused when the ring turns
		return
	}
	e.resp = resp
}

// idempotent returns the Idempotency-Key of a POST under DialectStripe,
// hashing its parameters; it puts the body back for the Handler.
func (p *Provider) idempotent(r *http.Request) *idemAsk {
	key := r.Header.Get("Idempotency-Key")
	if p.opts.Dialect != DialectStripe || key == "" || r.Method != http.MethodPost {
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxHashedBody))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil {
		return nil
	}
	kh, ph := fnv.New64a(), fnv.New64a()
	_, _ = io.WriteString(kh, key)
	_, _ = io.WriteString(ph, r.Method+"\x00"+r.URL.Path+"\x00")
	_, _ = ph.Write(buf)
	return &idemAsk{key: kh.Sum64(), params: ph.Sum64(), raw: key}
}

// finishIdem stores the response of a keyed request's first run.
func (p *Provider) finishIdem(a *idemAsk, resp *storedResponse) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idem.finish(a, resp)
}

// serveIdem answers an accepted keyed request under DialectStripe: it
// replays the stored response, refuses a reused or busy key, or performs
// the request with perform and stores its response.
func (p *Provider) serveIdem(w http.ResponseWriter, r *http.Request, v idemVerdict, perform func(http.ResponseWriter, *http.Request)) {
	h := w.Header()
	switch v.kind {
	case idemReplay:
		for k, vs := range v.stored.header {
			if k != "Date" {
				h[k] = append([]string(nil), vs...)
			}
		}
		h.Set("Idempotent-Replayed", "true")
		w.WriteHeader(v.stored.status)
		_, _ = w.Write(v.stored.body)
		return
	case idemMismatch:
		writeJSON(w, http.StatusBadRequest, fmt.Appendf(nil, `{"error":{"message":"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.","type":"idempotency_error"}}`,
			jsonSafe(v.ask.raw)))
		return
	case idemInUse:
		writeJSON(w, http.StatusConflict, []byte(`{"error":{"code":"idempotency_key_in_use","message":"There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please try again later.","type":"invalid_request_error"}}`))
		return
	}
	var stored *storedResponse
	defer func() { p.finishIdem(v.ask, stored) }() // a panic forgets the key
	rec := httptest.NewRecorder()
	for k, vs := range h {
		rec.Header()[k] = vs
	}
	perform(rec, r)
	res := rec.Result()
	stored = &storedResponse{status: res.StatusCode, header: res.Header.Clone(), body: rec.Body.Bytes()}
	for k, vs := range res.Header {
		h[k] = vs
	}
	w.WriteHeader(stored.status)
	_, _ = w.Write(stored.body)
}

// stripeThrottle is Stripe's answer to a request over its rate limit.
const stripeThrottle = `{"error":{"code":"rate_limit","doc_url":"https://stripe.com/docs/error-codes/rate-limit","message":"Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.","type":"invalid_request_error"}}`

// writeJSON writes a JSON answer with its length.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// jsonSafe keeps the printable ASCII of s other than quote and backslash,
// at most 255 bytes, for a JSON string.
func jsonSafe(s string) string {
	b := make([]byte, 0, min(len(s), 255))
	for i := 0; i < len(s) && len(b) < 255; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b = append(b, c)
		}
	}
	return string(b)
}
