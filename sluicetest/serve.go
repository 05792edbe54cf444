package sluicetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"syscall"
)

// maxHashedBody is how much of a request body is read to fingerprint it.
const maxHashedBody = 1 << 20

// ServeHTTP implements http.Handler. Requests hit by a reset, a hang or a
// lost response end with their connection closed: hijacked and reset when
// the server allows it, aborted with http.ErrAbortHandler otherwise.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.serve(w, r) {
		abort(w)
	}
}

// abort closes the request's connection without a response.
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // send RST, not FIN
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http's documented way to abort a response
}

// RoundTrip implements http.RoundTripper by serving req in memory, as the
// provider would over the network. A reset, a hang released by Close, or a
// lost response yields an error matching syscall.ECONNRESET; a hang or a
// latency cut short by req's context yields the context's error. It lets a
// test use &http.Client{Transport: p} inside a synctest bubble, where
// loopback I/O would stop the fake clock.
func (p *Provider) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	r := req.Clone(ctx)
	if r.Body == nil {
		r.Body = http.NoBody
	}
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:1"
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	rec := httptest.NewRecorder()
	aborted := p.serve(rec, r)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if aborted {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	}
	res := rec.Result()
	res.ContentLength = int64(rec.Body.Len())
	res.Request = req
	return res, nil
}

// serve handles one request and reports whether its connection must be
// closed without a response.
func (p *Provider) serve(w http.ResponseWriter, r *http.Request) (abort bool) {
	f, lat := p.begin()
	if !p.sleep(r.Context(), lat) {
		p.finish(faultNone, true)
		return true
	}
	switch f {
	case faultReset:
		p.finish(faultReset, false)
		return true
	case faultHang:
		p.hangs()
		p.hang(r.Context())
		p.finish(faultNone, false)
		return true
	case faultError:
		p.finish(faultError, false)
		status := p.opts.Faults.errorStatus()
		h := w.Header()
		h.Set("Date", p.now().UTC().Format(http.TimeFormat))
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "%d %s (injected by sluicetest)\n", status, http.StatusText(status))
		return false
	}

	etag, notModified := p.conditional(r)
	a := ask{cost: parseCost(r.Header.Get(CostHeader)), lost: f == faultLost, notModified: notModified}
	a.idem = p.idempotent(r)
	a.fp, a.hasFP = fingerprint(r)
	d, n := p.decide(p.now(), a)
	lost := d.accepted && f == faultLost
	if lost {
		// The request is performed (a Handler runs, DialectStripe stores its
		// answer), but its response never reaches the client.
		w = httptest.NewRecorder()
	}
	p.respond(w, r, &d, n, etag)
	return lost
}

// respond writes the answer to a request the limits decided.
func (p *Provider) respond(w http.ResponseWriter, r *http.Request, d *decision, n int, etag string) {
	h := w.Header()
	h.Set("Date", d.now.UTC().Format(http.TimeFormat))
	p.setLimitHeaders(h, d)
	switch {
	case d.secondary:
		status, body := p.secondaryRefusal(h, d)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	case !d.accepted:
		status, body := p.throttle(h, d)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	if etag != "" {
		h.Set("Etag", etag)
	}
	if d.notModified {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	perform := func(w http.ResponseWriter, r *http.Request) { p.perform(w, r, d.cost, n) }
	if d.idem.ask != nil {
		p.serveIdem(w, r, d.idem, perform)
		return
	}
	perform(w, r)
}

// perform writes the answer to an accepted request: the Handler's, or the
// default echo.
func (p *Provider) perform(w http.ResponseWriter, r *http.Request, cost, n int) {
	if p.opts.Handler != nil {
		p.opts.Handler.ServeHTTP(w, r)
		return
	}
	body, _ := json.Marshal(echo{Method: r.Method, Path: r.URL.Path, Cost: cost, N: n})
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// echo is the default body of an accepted response.
type echo struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Cost   int    `json:"cost"`
	N      int    `json:"n"`
}

// parseCost reads CostHeader: a positive integer, 1 when missing or bad.
func parseCost(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// fingerprint identifies a request that must not be performed twice: by its
// Idempotency-Key, or for POST and PATCH by path and non-empty body. It
// reads (at most 1 MiB of) the body and puts it back for a Handler.
func fingerprint(r *http.Request) (uint64, bool) {
	h := fnv.New64a()
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		_, _ = io.WriteString(h, "key\x00"+key)
		return h.Sum64(), true
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPatch {
		return 0, false
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxHashedBody))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil || len(buf) == 0 {
		return 0, false
	}
	_, _ = io.WriteString(h, r.Method+"\x00"+r.URL.Path+"\x00")
	_, _ = h.Write(buf)
	return h.Sum64(), true
}
