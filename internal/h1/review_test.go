package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// boundedCtx is a context that ends a test's exchange that would otherwise
// hang: a failure, not a wait.
func boundedCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// failingBody gives n bytes of 'x', then err.
type failingBody struct {
	n   int
	err error
}

func (b *failingBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, b.err
	}
	k := min(len(p), b.n)
	copy(p, bytes.Repeat([]byte("x"), k))
	b.n -= k
	return k, nil
}

func (b *failingBody) Close() error { return nil }

// TestRequestBodyErrorEndsTheExchange: when the request's own body fails
// (the proxy's client went away mid-upload, or its body is over the
// proxy's limit), the error comes back at once, as net/http's Transport
// returns it, and the connection, holding a request cut short, is never
// reused even when the upstream answered first: the next request's bytes
// would be read as the rest of the first one's body.
func TestRequestBodyErrorEndsTheExchange(t *testing.T) {
	tests := []struct {
		name   string
		sent   int   // bytes the body gives before failing
		err    error // its error
		answer bool  // the upstream answers after the header, before the body
	}{
		{"client gone, nothing flushed", 10, io.ErrUnexpectedEOF, false},
		{"client gone after 32 KiB, upstream answered early", 32 << 10, io.ErrUnexpectedEOF, true},
		{"over the proxy's limit", 32 << 10, &http.MaxBytesError{Limit: 32 << 10}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int64
			url := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				conns.Add(1)
				c.SetDeadline(time.Now().Add(5 * time.Second)) // a failure, not a hang
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if tc.answer || req.Method == "GET" {
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					}
					if _, err := io.Copy(io.Discard, req.Body); err != nil {
						return
					}
				}
			})
			tr := newTransport(t)
			tr.probeAfter = -1 // nothing but the fix keeps the connection out of the pool
			req, _ := http.NewRequestWithContext(boundedCtx(t), "POST", url, &failingBody{n: tc.sent, err: tc.err})
			req.ContentLength = maxBody // the largest body it takes
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v; want the body's error %v", err, tc.err)
			}
			var mb *http.MaxBytesError
			if errors.As(tc.err, &mb) && !errors.As(err, &mb) {
				t.Errorf("error %v: the proxy's 413 needs an *http.MaxBytesError in the chain", err)
			}
			req, _ = http.NewRequestWithContext(boundedCtx(t), "GET", url, nil)
			if _, b := do(t, tr, req); b != "ok" {
				t.Errorf("body %q", b)
			}
			if n := conns.Load(); n != 2 {
				t.Errorf("%d connections; want 2: the cut-short request's connection was reused", n)
			}
		})
	}
}

// TestHeaderValidation: what net/http's Transport refuses is refused before
// a byte is sent (a field value with CR, LF, NUL or another control
// character, a Host with a byte net/http refuses, a request target with a
// space), and the error never carries a field's value.
func TestHeaderValidation(t *testing.T) {
	var reqs atomic.Int64
	srv, _ := counted(t, func(w http.ResponseWriter, r *http.Request) { reqs.Add(1) })
	tr := newTransport(t)
	tr.Omit = "X-Marker"
	tests := []struct {
		name string
		mod  func(*http.Request)
		ok   bool
	}{
		{"NUL in a value", func(r *http.Request) { r.Header.Set("Authorization", "Bearer sec\x00ret") }, false},
		{"LF in a value", func(r *http.Request) { r.Header.Set("Authorization", "Bearer sec\nX-Admin: 1") }, false},
		{"CR in a value", func(r *http.Request) { r.Header.Set("X-A", "a\rb") }, false},
		{"DEL in a value", func(r *http.Request) { r.Header.Set("X-A", "a\x7fb") }, false},
		{"control in User-Agent", func(r *http.Request) { r.Header.Set("User-Agent", "a\x01") }, false},
		{"control in Content-Length key's value", func(r *http.Request) { r.Header["Content-Length"] = []string{"0\n"} }, false},
		{"tab and obs-text", func(r *http.Request) { r.Header.Set("X-A", "a\tb\xff") }, true},
		{"bad value in the omitted marker", func(r *http.Request) { r.Header.Set("X-Marker", "a\nb") }, true},
		{"quote in Host", func(r *http.Request) { r.Host = `a"b` }, false},
		{"backslash in Host", func(r *http.Request) { r.Host = `a\b` }, false},
		{"non-ASCII Host", func(r *http.Request) { r.Host = "bücher.test" }, false},
		{"space in Host", func(r *http.Request) { r.Host = "a b" }, false},
		{"space in the query", func(r *http.Request) { r.URL.RawQuery = "a=1 HTTP/1.1\r\nX: y" }, false},
		{"space in the opaque target", func(r *http.Request) { r.URL.Opaque = "/a b" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := reqs.Load()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			tc.mod(req)
			resp, err := tr.RoundTrip(req)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				resp.Body.Close()
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatal("sent")
			}
			if strings.Contains(err.Error(), "sec") {
				t.Errorf("error %q carries the header's value", err)
			}
			if reqs.Load() != before {
				t.Error("the upstream saw the request")
			}
		})
	}
}

// TestFramingFieldsInAnyCase: a header key that is a framing field in
// another case (set in the map directly, not through Header.Set) is not
// sent: it would give the upstream a second Content-Length, a
// Transfer-Encoding next to the length, or a second Host.
func TestFramingFieldsInAnyCase(t *testing.T) {
	var got []string
	srv, _ := counted(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Host+" "+r.Header.Get("Content-Length")+" "+strings.Join(r.TransferEncoding, ",")+" "+string(b))
	})
	tr := newTransport(t)
	tr.Omit = "X-Marker"
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("abc"))
	req.Host = "api.test"
	req.Header["content-length"] = []string{"0"}
	req.Header["transfer-encoding"] = []string{"chunked"}
	req.Header["hOST"] = []string{"evil.test"}
	req.Header["trailer"] = []string{"X"}
	req.Header["x-marker"] = []string{"alice"}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "api.test 3  abc"; len(got) != 1 || got[0] != want {
		t.Errorf("upstream saw %q; want %q", got, want)
	}
}

// TestZoneRemovedFromHost: an IPv6 zone never leaves in the Host header
// (RFC 6874), as net/http strips it.
func TestZoneRemovedFromHost(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://api.test/", nil)
	req.Host = "[fe80::1%25eth0]:8080"
	if got := written(t, req).Host; got != "[fe80::1]:8080" {
		t.Errorf("Host %q; want [fe80::1]:8080", got)
	}
}

func TestLongBodyIsAnError(t *testing.T) {
	req, _ := http.NewRequest("POST", "http://api.test/", strings.NewReader("abcdef"))
	req.ContentLength = 3
	cli, srv := net.Pipe()
	defer srv.Close()
	go io.Copy(io.Discard, srv)
	c := (&Transport{}).newConn("x:80", cli)
	if err := c.write(req); err == nil || !strings.Contains(err.Error(), "longer than its Content-Length of 3") {
		t.Errorf("error %v; want a long-body error", err)
	}
	cli.Close()
}

// TestLeftoverInSocketNotReused: bytes past an answer that the body's
// last read did not pull into the buffer (a read straight into the
// caller's buffer takes only the body's remaining length) are still
// unasked bytes: an answer to the next request must never be read from
// them.
func TestLeftoverInSocketNotReused(t *testing.T) {
	body := strings.Repeat("b", 20000)
	url, conns := answering(t, func(int64, int) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + body +
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale", true
	})
	tr := newTransport(t)
	tr.probeAfter = -1
	for i := range 2 {
		req, _ := http.NewRequestWithContext(boundedCtx(t), "GET", url, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, err = io.CopyBuffer(&b, struct{ io.Reader }{resp.Body}, make([]byte, 32<<10)) // as the proxy copies
		resp.Body.Close()
		if err != nil || b.String() != body {
			t.Fatalf("request %d: %d bytes (%q...), %v: an unasked answer was read as this one's", i, b.Len(), b.String()[:min(b.Len(), 10)], err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2", n)
	}
}

// TestBodyReadAfterCancel: once the request's context is done, a body
// Read returns its error even for bytes already buffered, and the
// connection is not reused.
func TestBodyReadAfterCancel(t *testing.T) {
	url, conns := answering(t, func(int64, int) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", true
	})
	tr := newTransport(t)
	tr.probeAfter = -1
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if n, err := resp.Body.Read(make([]byte, 8)); !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel: %d bytes, %v; want context.Canceled", n, err)
	}
	req, _ = http.NewRequestWithContext(boundedCtx(t), "GET", url, nil)
	do(t, tr, req)
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2: the canceled answer's connection was reused", n)
	}
}

// TestNoBodyAnswers: HEAD, 204 and 304 answers have no body whatever their
// header says; the connection is reused after them, unless bytes follow
// (a body the upstream sent anyway), which must not become the next
// request's answer. A guard: it passed before the review too.
func TestNoBodyAnswers(t *testing.T) {
	tests := []struct {
		name, method, resp string
		reuse              bool
	}{
		{"HEAD with a length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true},
		{"HEAD with a body anyway", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false},
		{"204 with a body anyway", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", false},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, conns := answering(t, func(n int64, i int) (string, bool) {
				if n == 1 && i == 0 {
					return tc.resp, true
				}
				return "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond", true
			})
			tr := newTransport(t)
			tr.probeAfter = -1
			req, _ := http.NewRequestWithContext(boundedCtx(t), tc.method, url, nil)
			if _, b := do(t, tr, req); b != "" {
				t.Fatalf("body %q for a no-body answer", b)
			}
			req, _ = http.NewRequestWithContext(boundedCtx(t), "GET", url, nil)
			if _, b := do(t, tr, req); b != "second" {
				t.Fatalf("second answer %q", b)
			}
			want := int64(2)
			if tc.reuse {
				want = 1
			}
			if n := conns.Load(); n != want {
				t.Errorf("%d connections; want %d", n, want)
			}
		})
	}
}
