// Package h1 is the proxy's HTTP/1.1 client for plain-HTTP upstreams: an
// http.RoundTripper that runs each exchange on the calling goroutine over a
// pool of kept-alive connections.
//
// net/http's Transport gives every connection a reader and a writer
// goroutine and hands each request and answer between them and the caller
// over channels; for a proxy sending small requests to an upstream on a
// fast network that hand-off costs about as much CPU as the system calls
// themselves. This Transport writes the request and parses the answer (with
// http.ReadResponse, net/http's own parser) in the caller's goroutine: two
// goroutine switches and several allocations fewer per request.
//
// It takes only what it can carry exactly as net/http would: http:// URLs,
// no body or one of known length up to 64 KiB, no trailers, no
// Expect: 100-continue, no protocol upgrade and no CONNECT. Everything else
// (https, where net/http negotiates HTTP/2; chunked or larger request bodies;
// upgrades; CONNECT) goes to Fallback.
//
// It refuses, before a byte is sent, what net/http's Transport refuses: a
// method or header field name that is not a token, a field value with a
// control character other than tab (CR, LF and NUL among them; the error
// names the field, never the value), a Host with a byte
// httpguts.ValidHostHeader refuses (and any non-ASCII one); and a request
// target with a space or control character. It writes the framing itself:
// a header named Host, Content-Length, Transfer-Encoding or Trailer, in any
// case, is not sent, and a body shorter or longer than ContentLength is an
// error. An IPv6 zone is removed from Host.
//
// A connection is reused only when its answer was read to its end, nothing
// is left to read on it (buffered, or in the socket when the last read
// filled its buffer), the request was written whole and its context is
// still live. A failure to read the request's own body ends the exchange
// at once with that error (wrapped) and closes the connection. Once the
// request's context is done, RoundTrip and the answer body's Read return
// the context's error, and the connection is closed. Like net/http it re-sends a request on a fresh connection
// only when a kept-alive connection turned out closed before a byte of the
// answer arrived and the request is safe to replay (GET, HEAD, OPTIONS,
// TRACE or an Idempotency-Key header, and a body it can rebuild with
// GetBody).
package h1

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Transport is an HTTP/1.1 RoundTripper for http:// URLs. Its zero value is
// not usable: DialContext is required. It is safe for concurrent use.
type Transport struct {
	// DialContext opens a TCP connection to "host:port". Required.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// Fallback carries the requests this Transport does not take (see the
	// package doc). Nil means they fail with ErrNotTaken.
	Fallback http.RoundTripper

	// MaxIdlePerHost is the number of idle connections kept per host:port.
	// Zero means 256.
	MaxIdlePerHost int

	// MaxIdle is the number of idle connections kept over all hosts (in
	// forward mode a proxy reaches many). Zero means 1024.
	MaxIdle int

	// IdleTimeout closes a connection idle that long. Zero means 90 s.
	IdleTimeout time.Duration

	// MaxResponseHeaderBytes limits the size of an answer's status line
	// and header. Zero means 1 MiB.
	MaxResponseHeaderBytes int64

	// Omit names a request header that is never sent (canonical form):
	// a marker that travels through the caller's pipeline but must not
	// leave the process. Empty means none.
	Omit string

	probeAfter time.Duration // idle time before a check; 0: defaultProbeAfter, <0: never (tests)

	mu     sync.Mutex
	idle   map[string][]*conn // host:port -> idle connections, oldest first; guarded by mu
	nidle  int                // guarded by mu
	timer  *time.Timer        // prunes idle connections past IdleTimeout; guarded by mu
	closed bool               // guarded by mu
}

// ErrNotTaken is the error for a request the Transport does not carry
// when it has no Fallback.
var ErrNotTaken = errors.New("h1: request not supported without a fallback transport (https, chunked body, trailers, Expect, Upgrade or CONNECT)")

// errClosed is returned once CloseIdleConnections has been called with
// close set; see Close.
var errClosed = errors.New("h1: transport closed")

// maxBody is the largest request body the Transport sends itself: it
// writes the whole request before it reads, and this much always fits the
// kernel's socket buffers even when the upstream has stopped reading.
const maxBody = 64 << 10

// defaultProbeAfter is how long a connection may sit idle before it is
// checked (one non-blocking read) for a close the upstream sent meanwhile.
const defaultProbeAfter = 50 * time.Millisecond

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !takes(req) {
		if t.Fallback == nil {
			closeBody(req)
			return nil, ErrNotTaken
		}
		return t.Fallback.RoundTrip(req)
	}
	ctx := req.Context()
	key := hostPort(req.URL.Host)
	for try := 0; ; try++ {
		c, err := t.get(ctx, key)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := c.exchange(ctx, req)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			closeBody(req)
			return nil, ctx.Err()
		}
		var st *staleError
		if try > 0 || !errors.As(err, &st) || !replayable(req) {
			closeBody(req)
			return nil, unwrapStale(err)
		}
		if req, err = rewound(req); err != nil {
			return nil, err
		}
	}
}

// CloseIdleConnections closes the connections not in use.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle, t.nidle = nil, 0
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.nc.Close()
		}
	}
}

// Close closes the idle connections and makes the Transport close every
// connection given back from now on, and refuse new requests.
func (t *Transport) Close() {
	t.mu.Lock()
	t.closed = true
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
	t.CloseIdleConnections()
}

// get returns an idle connection to key, checked when it has been idle
// long, or dials a new one.
func (t *Transport) get(ctx context.Context, key string) (*conn, error) {
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, errClosed
		}
		cs := t.idle[key]
		if len(cs) == 0 {
			t.mu.Unlock()
			break
		}
		c := cs[len(cs)-1] // the most recently used: warm and least likely closed
		cs[len(cs)-1] = nil
		t.idle[key] = cs[:len(cs)-1]
		t.nidle--
		t.mu.Unlock()
		if idle := time.Since(c.idleSince); idle > t.idleTimeout() || (t.probe(idle) && !alive(c.nc)) {
			c.nc.Close()
			continue
		}
		c.reused = true
		return c, nil
	}
	nc, err := t.DialContext(ctx, "tcp", key)
	if err != nil {
		return nil, err
	}
	return t.newConn(key, nc), nil
}

// put keeps c for reuse, or closes it when the pool is full or closed.
func (t *Transport) put(c *conn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	if t.closed || len(t.idle[c.key]) >= t.maxIdle() || t.nidle >= t.maxIdleTotal() {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	if t.idle == nil {
		t.idle = map[string][]*conn{}
	}
	t.idle[c.key] = append(t.idle[c.key], c)
	t.nidle++
	if t.timer == nil {
		t.timer = time.AfterFunc(t.idleTimeout(), t.prune)
	} else if t.nidle == 1 {
		t.timer.Reset(t.idleTimeout())
	}
	t.mu.Unlock()
}

// prune closes the connections idle past IdleTimeout and re-arms itself
// while some remain.
func (t *Transport) prune() {
	timeout := t.idleTimeout()
	now := time.Now()
	var old []*conn
	t.mu.Lock()
	next := timeout
	for key, cs := range t.idle {
		n := 0
		for n < len(cs) && now.Sub(cs[n].idleSince) >= timeout {
			n++
		}
		old = append(old, cs[:n]...)
		t.idle[key] = append(cs[:0], cs[n:]...)
		if len(t.idle[key]) == 0 {
			delete(t.idle, key)
		} else {
			next = min(next, timeout-now.Sub(t.idle[key][0].idleSince))
		}
		t.nidle -= n
	}
	if t.nidle > 0 && !t.closed {
		t.timer.Reset(max(next, time.Millisecond))
	}
	t.mu.Unlock()
	for _, c := range old {
		c.nc.Close()
	}
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return 90 * time.Second
}

// probe reports whether a connection idle that long is checked first.
func (t *Transport) probe(idle time.Duration) bool {
	switch {
	case t.probeAfter < 0:
		return false
	case t.probeAfter == 0:
		return idle > defaultProbeAfter
	}
	return idle > t.probeAfter
}

func (t *Transport) maxIdle() int {
	if t.MaxIdlePerHost > 0 {
		return t.MaxIdlePerHost
	}
	return 256
}

func (t *Transport) maxIdleTotal() int {
	if t.MaxIdle > 0 {
		return t.MaxIdle
	}
	return 1024
}

func (t *Transport) maxHeader() int64 {
	if t.MaxResponseHeaderBytes > 0 {
		return t.MaxResponseHeaderBytes
	}
	return 1 << 20
}

// takes reports whether the Transport carries req itself.
func takes(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" || req.Method == http.MethodConnect {
		return false // CONNECT opens a tunnel, not an exchange
	}
	if len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && (req.ContentLength <= 0 || req.ContentLength > maxBody) {
		// A body of unknown length (chunked), or one too large to be sure
		// it fits the socket's buffers: net/http's Transport reads the
		// answer while it writes, so an upstream that answers early (413)
		// and stops reading cannot hold the write until the deadline.
		return false
	}
	if _, ok := req.Header["Expect"]; ok {
		return false
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return false
	}
	return true
}

// replayable reports whether req may be re-sent on a fresh connection
// after a kept-alive one was found closed: net/http's rule.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, k1 := req.Header["Idempotency-Key"]
	_, k2 := req.Header["X-Idempotency-Key"]
	return k1 || k2
}

// rewound is req with a fresh body from GetBody, for a re-send.
func rewound(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r2 := *req
	r2.Body = body
	return &r2, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// hostPort is host with port 80 when it names none.
func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return net.JoinHostPort(host, "80")
}
