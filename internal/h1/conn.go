package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// conn is one kept-alive connection. It is owned by one exchange at a
// time: idle in the pool, or held by the request whose answer it carries.
type conn struct {
	t         *Transport
	key       string
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	limit     int64 // bytes the answer's header may still take; -1: no limit
	nread     int64 // bytes read since the request was written
	full      bool  // the last read filled its buffer: more may wait in the socket
	reused    bool  // served an earlier request
	idleSince time.Time
	src       reqBody // the request body being written
}

func (t *Transport) newConn(key string, nc net.Conn) *conn {
	c := &conn{t: t, key: key, nc: nc, limit: -1}
	c.br = bufio.NewReaderSize(c, 4<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	return c
}

// errHeaderTooLarge ends an answer whose header is over
// MaxResponseHeaderBytes.
var errHeaderTooLarge = errors.New("h1: the upstream's answer header is over the limit (1 MiB unless set)")

// Read is the connection as the bufio.Reader sees it: counted, and limited
// while the header is read.
func (c *conn) Read(p []byte) (int, error) {
	if c.limit == 0 {
		return 0, errHeaderTooLarge
	}
	if c.limit > 0 && int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n, err := c.nc.Read(p)
	c.nread += int64(n)
	c.full = n == len(p)
	if c.limit > 0 {
		c.limit -= int64(n)
	}
	return n, err
}

// staleError is a failure on a kept-alive connection before a byte of the
// answer arrived: the upstream closed it while it sat idle, and the
// request may be re-sent on a fresh one.
type staleError struct{ err error }

func (e *staleError) Error() string { return e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }

func unwrapStale(err error) error {
	if st, ok := err.(*staleError); ok {
		return st.err
	}
	return err
}

// bodyError is a failure to read the request's own body (the client
// behind the proxy went away, or sent less than its Content-Length): the
// upstream holds a request cut short, and nothing it answers can be read.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "h1: reading the request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// reqBody is the request body as it is copied to the connection: at most
// n bytes, and the body's own read error kept apart from the
// connection's write errors.
type reqBody struct {
	r   io.Reader
	n   int64
	err error
}

func (b *reqBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// drained reports whether nothing of the answer can still be waiting to
// be read on the connection: nothing buffered, and the last read did not
// fill its buffer (when it did, the socket is checked without blocking).
func (c *conn) drained() bool {
	return c.br.Buffered() == 0 && (!c.full || alive(c.nc))
}

// aLongTimeAgo is a deadline in the past: it unblocks a read or a write.
var aLongTimeAgo = time.Unix(1, 0)

// max1xx is the number of informational answers skipped before the final
// one (net/http's limit).
const max1xx = 5

// exchange writes req and reads its answer's header. On error the
// connection is closed; on success it belongs to the answer's body.
func (c *conn) exchange(ctx context.Context, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	werr := c.write(req)
	var be *bodyError
	if werr != nil && (!isConnError(werr) || errors.As(werr, &be)) {
		stop()
		c.nc.Close()
		return nil, werr // a bad request or body: nothing to read
	}
	// Even when the write failed the upstream may have answered first
	// (a 413 before the whole body), as net/http's Transport reads too.
	c.nread, c.limit = 0, c.t.maxHeader()
	var resp *http.Response
	var err error
	for n := 0; ; n++ {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if n == max1xx {
			err = errors.New("h1: too many 1xx informational answers")
			break
		}
		c.limit = c.t.maxHeader()
	}
	c.limit = -1
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		err = errors.New("h1: the upstream switched protocols for a request that asked for no upgrade")
	}
	if err != nil {
		stop()
		c.nc.Close()
		if werr != nil {
			err = werr
		}
		if c.reused && c.nread == 0 && isConnError(err) {
			return nil, &staleError{fmt.Errorf("h1: kept-alive connection closed by the upstream: %w", err)}
		}
		if errors.Is(err, errHeaderTooLarge) {
			return nil, errHeaderTooLarge
		}
		return nil, fmt.Errorf("h1: reading the answer: %w", err)
	}
	// An answer that came before the whole request was written (a 413
	// while the body was still going out) leaves the upstream reading a
	// request cut short: the connection is not reused, as net/http's is
	// not after a write error.
	reuse := werr == nil && !resp.Close && !req.Close && (resp.ContentLength >= 0 || chunked(resp.TransferEncoding))
	if resp.Body == http.NoBody {
		if stop() && reuse && c.drained() {
			c.t.put(c)
		} else {
			c.nc.Close()
		}
		return resp, nil
	}
	resp.Body = &body{c: c, rc: resp.Body, ctx: ctx, stop: stop, reuse: reuse}
	return resp, nil
}

// isConnError reports an error of the connection itself (closed, reset,
// timed out), as opposed to a malformed answer or a bad request.
func isConnError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

func chunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }

// body is an answer's body: at EOF its connection goes back to the pool,
// closed early it is closed.
type body struct {
	c     *conn
	rc    io.ReadCloser
	ctx   context.Context
	stop  func() bool
	reuse bool
	state atomic.Int32 // open, atEOF or closed
}

const (
	open int32 = iota
	atEOF
	closed
)

var errBodyClosed = errors.New("h1: read on a closed answer body")

// Read reads the answer's body. Once the request's context is done it
// returns the context's error, even for bytes already buffered, and the
// connection is closed.
func (b *body) Read(p []byte) (int, error) {
	if b.state.Load() == atEOF {
		return 0, io.EOF
	}
	if err := b.ctx.Err(); err != nil {
		b.finish(false)
		return 0, err
	}
	if b.state.Load() == closed {
		return 0, errBodyClosed
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		if b.ctx.Err() != nil {
			err = b.ctx.Err()
		}
		b.finish(false)
	}
	return n, err
}

func (b *body) Close() error {
	b.finish(false)
	return nil
}

func (b *body) finish(eof bool) {
	to := closed
	if eof {
		to = atEOF
	}
	if !b.state.CompareAndSwap(open, to) {
		if eof {
			return
		}
		b.state.Store(closed) // Close after EOF: later reads fail
		return
	}
	// Bytes already buffered past the answer are not an answer to the
	// next request: such a connection is not reused.
	if b.stop() && eof && b.reuse && b.c.drained() {
		b.c.t.put(b.c)
		return
	}
	b.c.nc.Close()
}

// write sends req's request line, header and body, and flushes. It
// refuses what net/http's Transport refuses (a method or field name that is
// not a token, a field value with a control character, a Host that is not
// one) and a request target with a space or control character, and writes
// the framing (Host, Content-Length) itself: a header of the request by
// one of those names, in any case, is not sent.
func (c *conn) write(req *http.Request) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !token(method) {
		return fmt.Errorf("h1: invalid method %q", method)
	}
	uri := req.URL.RequestURI()
	if hasCTL(uri) || strings.IndexByte(uri, ' ') >= 0 {
		return errors.New("h1: control character or space in the request target")
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validHost(host) {
		return errors.New("h1: invalid Host (a character net/http refuses, or not ASCII)")
	}
	host = removeZone(host)
	if err := c.t.checkHeader(req.Header); err != nil {
		return err
	}
	w := c.bw
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	if ua, ok := req.Header["User-Agent"]; !ok {
		w.WriteString("User-Agent: Go-http-client/1.1\r\n")
	} else if len(ua) > 0 && ua[0] != "" {
		writeField(w, "User-Agent", ua[0])
	}
	for k, vs := range req.Header {
		if c.t.skip(k) {
			continue
		}
		for _, v := range vs {
			writeField(w, k, v)
		}
	}
	n := req.ContentLength
	hasBody := req.Body != nil && req.Body != http.NoBody
	if !hasBody {
		n = 0
	}
	if n > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		w.WriteString("Content-Length: ")
		var num [20]byte
		w.Write(strconv.AppendInt(num[:0], n, 10))
		w.WriteString("\r\n")
	}
	if req.Close {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if hasBody {
		if err := c.writeBody(req.Body, n); err != nil {
			return err
		}
	}
	return w.Flush()
}

// writeBody copies exactly n bytes of body and closes it. A failure to
// read the body is a *bodyError; a body shorter or longer than n is an
// error, as it is to net/http.
func (c *conn) writeBody(body io.ReadCloser, n int64) error {
	defer body.Close()
	c.src = reqBody{r: body, n: n}
	m, err := io.Copy(c.bw, &c.src)
	src := c.src
	c.src = reqBody{}
	switch {
	case src.err != nil:
		return &bodyError{src.err}
	case err != nil:
		return err
	case m != n:
		return fmt.Errorf("h1: request body of %d bytes for a Content-Length of %d", m, n)
	}
	var one [1]byte
	if k, _ := body.Read(one[:]); k > 0 {
		return fmt.Errorf("h1: request body longer than its Content-Length of %d", n)
	}
	return nil
}

// writeField writes "k: v\r\n", v trimmed of spaces and tabs as net/http
// does (checkHeader has refused a value with CR or LF).
func writeField(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(": ")
	w.WriteString(textproto.TrimString(v))
	w.WriteString("\r\n")
}

// validValue reports whether v is a field value net/http's Transport sends:
// no control character but tab.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether h is a Host net/http sends: only the bytes of
// httpguts.ValidHostHeader (ASCII; net/http would first turn a non-ASCII
// name into punycode, which the proxy never needs: egress normalizes names).
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostByte[h[i]] {
			return false
		}
	}
	return true
}

var hostByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!$%&()*+,-.:;=[]'_~" {
		t[c] = true
	}
	return t
}()

// removeZone removes an IPv6 zone from host ("[fe80::1%25eth0]:80"), as
// net/http does (RFC 6874: a zone never leaves the host).
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i := strings.LastIndex(host, "]")
	if i < 0 {
		return host
	}
	j := strings.LastIndex(host[:i], "%")
	if j < 0 {
		return host
	}
	return host[:j] + host[i:]
}
