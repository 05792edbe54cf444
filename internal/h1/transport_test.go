package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// loopbackDial dials only loopback addresses: a test asking for any other
// fails instead of dialing.
func loopbackDial(t *testing.T) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || (host != "127.0.0.1" && host != "::1" && host != "localhost") {
			t.Errorf("dial %s: not loopback", addr)
			return nil, errors.New("test dialer: not loopback")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// counted is an httptest server that counts the connections it accepted.
func counted(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

func newTransport(t *testing.T) *Transport {
	tr := &Transport{DialContext: loopbackDial(t)}
	t.Cleanup(tr.Close)
	return tr
}

func do(t *testing.T, tr http.RoundTripper, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return resp, string(b)
}

func TestReuseAndWire(t *testing.T) {
	var got []string
	srv, conns := counted(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.RequestURI+" ua="+r.UserAgent()+" cl="+r.Header.Get("Content-Length")+
			" omit="+r.Header.Get("X-Marker")+" v="+r.Header.Get("X-V")+" body="+string(b))
		w.Write([]byte("ok " + r.Method))
	})
	tr := newTransport(t)
	tr.Omit = "X-Marker"
	tests := []struct {
		method, body string
		hdr          http.Header
		want         string
	}{
		{"GET", "", http.Header{"X-Marker": {"alice"}}, "GET /p?q=1 ua=Go-http-client/1.1 cl= omit= v= body="},
		{"POST", "", http.Header{"User-Agent": {""}}, "POST /p?q=1 ua= cl=0 omit= v= body="},
		{"POST", `{"a":1}`, http.Header{"User-Agent": {"mine"}, "X-V": {" a\tb\x80 "}}, "POST /p?q=1 ua=mine cl=7 omit= v=a\tb\x80 body={\"a\":1}"},
		{"HEAD", "", nil, "HEAD /p?q=1 ua=Go-http-client/1.1 cl= omit= v= body="},
		{"DELETE", "", nil, "DELETE /p?q=1 ua=Go-http-client/1.1 cl= omit= v= body="},
	}
	for i, tc := range tests {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		req, _ := http.NewRequest(tc.method, srv.URL+"/p?q=1", body)
		for k, v := range tc.hdr {
			req.Header[k] = v
		}
		resp, b := do(t, tr, req)
		if resp.StatusCode != 200 || (tc.method != "HEAD" && b != "ok "+tc.method) {
			t.Errorf("%s: %d %q", tc.method, resp.StatusCode, b)
		}
		if got[i] != tc.want {
			t.Errorf("%s: server saw\n%s\nwant\n%s", tc.method, got[i], tc.want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for %d sequential requests; want 1", n, len(tests))
	}
}

func TestBadRequestRefusedBeforeSending(t *testing.T) {
	srv, conns := counted(t, func(w http.ResponseWriter, r *http.Request) {})
	tr := newTransport(t)
	for _, tc := range []struct {
		name string
		mod  func(*http.Request)
	}{
		{"header name", func(r *http.Request) { r.Header["Bad Name"] = []string{"x"} }},
		{"method", func(r *http.Request) { r.Method = "GE T" }},
		{"host", func(r *http.Request) { r.Host = "a\r\nb" }},
	} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		tc.mod(req)
		if _, err := tr.RoundTrip(req); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	do(t, tr, req) // the transport still works
	_ = conns
}

// rawServer accepts connections on loopback and runs serve on each.
func rawServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			func() {
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// answering is a rawServer that, on each connection (numbered from 1),
// reads requests (numbered from 0), discards their bodies and writes what
// answer returns, until answer says no more or the client goes; conns
// counts the connections. A 5 s deadline turns a hang into a failure.
func answering(t *testing.T, answer func(conn int64, i int) (resp string, more bool)) (url string, conns *atomic.Int64) {
	conns = new(atomic.Int64)
	url = rawServer(t, func(c net.Conn, br *bufio.Reader) {
		n := conns.Add(1)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			resp, more := answer(n, i)
			io.WriteString(c, resp)
			if !more {
				return
			}
		}
	})
	return url, conns
}

// answerOnce reads one request and answers it with resp, then returns
// (closing the connection).
func answerOnce(resp string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, resp)
	}
}

func TestStaleConnectionResent(t *testing.T) {
	// Closed after one answer without Connection: close, as an idle
	// timeout does.
	url, conns := answering(t, func(int64, int) (string, bool) { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false })
	tr := newTransport(t)
	req, _ := http.NewRequest("GET", url, nil)
	do(t, tr, req)
	// The closed connection sits in the pool until the next request: a GET
	// is re-sent on a fresh connection.
	req, _ = http.NewRequest("GET", url, nil)
	if _, b := do(t, tr, req); b != "ok" {
		t.Errorf("body %q", b)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2", n)
	}
}

func TestStalePostNotResent(t *testing.T) {
	url := rawServer(t, answerOnce("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr := newTransport(t)
	tr.probeAfter = -1 // the stale connection must reach the exchange
	req, _ := http.NewRequest("GET", url, nil)
	do(t, tr, req)
	req, _ = http.NewRequest("POST", url, strings.NewReader("charge"))
	req.GetBody = nil
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("a POST on a connection closed by the upstream was re-sent")
	}
	req, _ = http.NewRequest("POST", url, strings.NewReader("charge"))
	req.Header.Set("Idempotency-Key", "k1")
	do(t, tr, req) // re-sent: it carries an idempotency key
}

func TestProbeFindsClosedIdleConnection(t *testing.T) {
	url, _ := answering(t, func(int64, int) (string, bool) { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false })
	tr := newTransport(t)
	tr.probeAfter = time.Nanosecond
	req, _ := http.NewRequest("GET", url, nil)
	do(t, tr, req)
	tr.mu.Lock()
	c := tr.idle[hostPort(req.URL.Host)][0]
	tr.mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	for alive(c.nc) { // the FIN crosses loopback at once; bounded anyway
		if time.Now().After(deadline) {
			t.Fatal("alive still true 2 s after the upstream closed")
		}
		time.Sleep(time.Millisecond)
	}
	// A POST without a key: only the probe keeps it off the dead connection.
	req, _ = http.NewRequest("POST", url, strings.NewReader("x"))
	req.GetBody = nil
	do(t, tr, req)
}

func TestUnsolicitedBytesNotReused(t *testing.T) {
	url, conns := answering(t, func(int64, int) (string, bool) {
		// An answer and a second, unasked one in the same write.
		return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale", true
	})
	tr := newTransport(t)
	tr.probeAfter = -1
	for range 2 {
		req, _ := http.NewRequest("GET", url, nil)
		if _, b := do(t, tr, req); b != "first" {
			t.Fatalf("body %q: an unasked answer was given to a later request", b)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2 (the first had bytes past its answer)", n)
	}
}

func TestAnswerFraming(t *testing.T) {
	tests := []struct {
		name, resp, body string
		reuse            bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "ok", true},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", "", true},
		{"early hints", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", true},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "ok", false},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nuntil close", "until close", false},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, conns := answering(t, func(int64, int) (string, bool) { return tc.resp, tc.reuse })
			tr := newTransport(t)
			for range 2 {
				req, _ := http.NewRequest("GET", url, nil)
				if _, b := do(t, tr, req); b != tc.body {
					t.Fatalf("body %q; want %q", b, tc.body)
				}
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

func TestAnswerErrors(t *testing.T) {
	big := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 4000) + "\r\nContent-Length: 0\r\n\r\n"
	tests := []struct{ name, resp, want string }{
		{"header too large", big, "over the limit"},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", "malformed HTTP"},
		{"switching", "HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"},
		{"too many 1xx", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 7), "too many 1xx"},
		{"nothing", "", "EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := rawServer(t, answerOnce(tc.resp))
			tr := newTransport(t)
			tr.MaxResponseHeaderBytes = 1000
			req, _ := http.NewRequest("GET", url, nil)
			_, err := tr.RoundTrip(req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

func TestEarlyCloseDropsConnection(t *testing.T) {
	srv, conns := counted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 100<<10))
	})
	tr := newTransport(t)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
		t.Error("read after Close succeeded")
	}
	req, _ = http.NewRequest("GET", srv.URL, nil)
	do(t, tr, req)
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2: a half-read answer's connection is not reused", n)
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	release := make(chan struct{})
	srv, _ := counted(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	tr := newTransport(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := tr.RoundTrip(req)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RoundTrip still blocked 5 s after its context was canceled")
	}
}

func TestCancelWhileReadingBody(t *testing.T) {
	release := make(chan struct{})
	srv, _ := counted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("part"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	tr := newTransport(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4)
	io.ReadFull(resp.Body, buf)
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v; want context.Canceled", err)
	}
}

type recorder struct{ n atomic.Int64 }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.n.Add(1)
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: 299, Body: http.NoBody, Request: req}, nil
}

func TestFallback(t *testing.T) {
	srv, _ := counted(t, func(w http.ResponseWriter, r *http.Request) {})
	fb := &recorder{}
	tr := newTransport(t)
	tr.Fallback = fb
	chunkedBody := func() *http.Request {
		r, _ := http.NewRequest("POST", srv.URL, io.MultiReader(strings.NewReader("x")))
		return r
	}
	tests := []struct {
		name string
		req  func() *http.Request
	}{
		{"https", func() *http.Request { r, _ := http.NewRequest("GET", "https://127.0.0.1:1/", nil); return r }},
		{"unknown length body", chunkedBody},
		{"large body", func() *http.Request {
			r, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(make([]byte, maxBody+1)))
			return r
		}},
		{"expect", func() *http.Request {
			r, _ := http.NewRequest("PUT", srv.URL, strings.NewReader("x"))
			r.Header.Set("Expect", "100-continue")
			return r
		}},
		{"connect", func() *http.Request {
			r, _ := http.NewRequest("CONNECT", srv.URL, nil)
			return r
		}},
		{"upgrade", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL, nil)
			r.Header.Set("Upgrade", "websocket")
			return r
		}},
	}
	for i, tc := range tests {
		resp, err := tr.RoundTrip(tc.req())
		if err != nil || resp.StatusCode != 299 || fb.n.Load() != int64(i+1) {
			t.Errorf("%s: not sent to the fallback (%v)", tc.name, err)
		}
	}
	tr.Fallback = nil
	if _, err := tr.RoundTrip(chunkedBody()); !errors.Is(err, ErrNotTaken) {
		t.Errorf("without a fallback: %v; want ErrNotTaken", err)
	}
}

func TestIdleLimitAndClose(t *testing.T) {
	srv, conns := counted(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) })
	tr := newTransport(t)
	tr.MaxIdlePerHost = 1
	var resps []*http.Response
	for range 3 { // three answers open at once: three connections
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, resp)
	}
	for _, r := range resps {
		io.ReadAll(r.Body)
		r.Body.Close()
	}
	tr.mu.Lock()
	n := tr.nidle
	tr.mu.Unlock()
	if n != 1 || conns.Load() != 3 {
		t.Errorf("%d idle of %d; want 1 of 3", n, conns.Load())
	}
	tr.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	if _, err := tr.RoundTrip(req); err == nil {
		t.Error("a closed transport sent a request")
	}
}
