package h1

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// written is what the server side reads of req as this Transport writes it.
func written(t *testing.T, req *http.Request) *http.Request {
	t.Helper()
	cli, srv := net.Pipe()
	defer srv.Close()
	tr := &Transport{}
	c := tr.newConn("x:80", cli)
	errc := make(chan error, 1)
	go func() { errc <- c.write(req); cli.Close() }()
	return readBack(t, srv, errc)
}

func readBack(t *testing.T, r io.Reader, errc chan error) *http.Request {
	t.Helper()
	got, err := http.ReadRequest(bufio.NewReader(r))
	if err != nil {
		t.Fatalf("server could not parse the request: %v", err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body = io.NopCloser(bytes.NewReader(b))
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	return got
}

// TestWireMatchesNetHTTP checks that a server reads the same request from
// this Transport as from net/http's Request.Write (which is what
// http.Transport sends for HTTP/1.1), header order aside.
func TestWireMatchesNetHTTP(t *testing.T) {
	tests := []struct {
		method, url, body string
		hdr               http.Header
		host              string
		close             bool
	}{
		{method: "GET", url: "http://api.test/v1/x?a=1&b=%20"},
		{method: "GET", url: "http://api.test:8080/p%2Fq", hdr: http.Header{"Accept": {"a", "b"}, "User-Agent": {"sdk/1"}}},
		{method: "POST", url: "http://api.test/", body: `{"n":1}`, hdr: http.Header{"Content-Type": {"application/json"}}},
		{method: "PUT", url: "http://api.test/", hdr: http.Header{"User-Agent": {""}}},
		{method: "PATCH", url: "http://api.test/", body: "x"},
		{method: "DELETE", url: "http://[::1]:9/z", host: "virtual.test", close: true},
		{method: "OPTIONS", url: "http://api.test/", hdr: http.Header{"X-Trim": {"  padded  "}, "X-Tab": {"a\tb"}}},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			mk := func() *http.Request {
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				r, _ := http.NewRequest(tc.method, tc.url, body)
				for k, v := range tc.hdr {
					r.Header[k] = v
				}
				r.Host, r.Close = tc.host, tc.close
				if r.Host == "" {
					r.Host = r.URL.Host
				}
				return r
			}
			ours := written(t, mk())
			var buf bytes.Buffer
			if err := mk().Write(&buf); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			errc <- nil
			theirs := readBack(t, &buf, errc)
			ob, _ := io.ReadAll(ours.Body)
			tb, _ := io.ReadAll(theirs.Body)
			if ours.Method != theirs.Method || ours.RequestURI != theirs.RequestURI || ours.Host != theirs.Host ||
				ours.ContentLength != theirs.ContentLength || ours.Close != theirs.Close || !bytes.Equal(ob, tb) ||
				!reflect.DeepEqual(ours.Header, theirs.Header) {
				t.Errorf("ours:   %s %s host=%s cl=%d close=%v %q %v\nnet/http: %s %s host=%s cl=%d close=%v %q %v",
					ours.Method, ours.RequestURI, ours.Host, ours.ContentLength, ours.Close, ob, ours.Header,
					theirs.Method, theirs.RequestURI, theirs.Host, theirs.ContentLength, theirs.Close, tb, theirs.Header)
			}
		})
	}
}

func TestShortBodyIsAnError(t *testing.T) {
	req, _ := http.NewRequest("POST", "http://api.test/", strings.NewReader("abc"))
	req.ContentLength = 10
	cli, srv := net.Pipe()
	defer srv.Close()
	go io.Copy(io.Discard, srv)
	c := (&Transport{}).newConn("x:80", cli)
	if err := c.write(req); err == nil || !strings.Contains(err.Error(), "Content-Length of 10") {
		t.Errorf("error %v; want a short-body error", err)
	}
	cli.Close()
}
