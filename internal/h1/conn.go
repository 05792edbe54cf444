package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	reused    bool  // served an earlier request
	idleSince time.Time
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
	if werr != nil && !isConnError(werr) {
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
	reuse := !resp.Close && !req.Close && (resp.ContentLength >= 0 || chunked(resp.TransferEncoding))
	if resp.Body == http.NoBody {
		if stop() && reuse && c.br.Buffered() == 0 {
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

func (b *body) Read(p []byte) (int, error) {
	switch b.state.Load() {
	case atEOF:
		return 0, io.EOF
	case closed:
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
	if b.stop() && eof && b.reuse && b.c.br.Buffered() == 0 {
		b.c.t.put(b.c)
		return
	}
	b.c.nc.Close()
}

// write sends req's request line, header and body, and flushes.
func (c *conn) write(req *http.Request) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !token(method) {
		return fmt.Errorf("h1: invalid method %q", method)
	}
	uri := req.URL.RequestURI()
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if hasCTL(uri) || hasCTL(host) || strings.ContainsAny(host, " /?#@") {
		return errors.New("h1: control character or space in the request target or Host")
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
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer", c.t.Omit:
			continue
		}
		if !token(k) {
			return fmt.Errorf("h1: invalid header field name %q", k)
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
		m, err := io.Copy(w, io.LimitReader(req.Body, n))
		req.Body.Close()
		if err != nil {
			return err
		}
		if m != n {
			return fmt.Errorf("h1: request body of %d bytes for a Content-Length of %d", m, n)
		}
	}
	return w.Flush()
}

// writeField writes "k: v\r\n" with CR and LF in v turned into spaces, as
// net/http does.
func writeField(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(": ")
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	w.WriteString(strings.TrimSpace(v))
	w.WriteString("\r\n")
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
