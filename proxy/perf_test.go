package proxy

import (
	"bufio"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the per-request shortcuts: they must not change what is sent.

func TestRequestHeader(t *testing.T) {
	in := http.Header{
		"Accept":            {"application/json"},
		"Authorization":     {"Bearer proxy-token"},
		"Connection":        {"keep-alive, X-Secret-Hop", "x-other-hop"},
		"X-Secret-Hop":      {"1"},
		"X-Other-Hop":       {"2"},
		"Keep-Alive":        {"300"},
		"Te":                {"trailers"},
		"Proxy-Connection":  {"keep-alive"},
		"X-Forwarded-Host":  {"evil.example"},
		"Forwarded":         {"host=evil.example"},
		"Sluice-Max-Wait":   {"3s"},
		"Sluice-Priority":   {"high"},
		"X-Multi":           {"a", "b"},
		"Openai-Beta":       {"assistants=v2"},
		"X-Empty-Value-Key": nil,
	}
	tests := []struct {
		name     string
		dropAuth bool
		want     http.Header
	}{
		{"token in Authorization", true, http.Header{
			"Accept": {"application/json"}, "X-Multi": {"a", "b"}, "Openai-Beta": {"assistants=v2"}, "X-Empty-Value-Key": nil,
		}},
		{"token elsewhere", false, http.Header{
			"Accept": {"application/json"}, "Authorization": {"Bearer proxy-token"}, "X-Multi": {"a", "b"},
			"Openai-Beta": {"assistants=v2"}, "X-Empty-Value-Key": nil,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := requestHeader(in, tt.dropAuth)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("requestHeader =\n%v\nwant\n%v", got, tt.want)
			}
			// The copy owns its values: appending to one leaves the
			// client's request as it was.
			got["X-Multi"] = append(got["X-Multi"], "c")
			got["Accept"][0] = "changed"
			if len(in["X-Multi"]) != 2 || in["Accept"][0] != "application/json" {
				t.Fatalf("the client's header changed: %v", in)
			}
		})
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"prov.local":      "prov.local",
		"prov.local:8080": "prov.local",
		"127.0.0.1:80":    "127.0.0.1",
		"[::1]:8080":      "[::1]",
		"[::1]":           "[::1]",
		"::1":             "::1",
		"":                "",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// flaky answers 503 to the first attempt of each request body and echoes
// the body on the second, so a body the proxy buffered is seen twice.
type flaky struct{ n atomic.Int64 }

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if f.n.Add(1)%2 == 1 {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, r.Header.Get("Content-Length")+" "+string(b))
}

// TestBodyReplayedOnRetry: a small body, of known length or chunked, is
// buffered once and sent again, whole, on the retry.
func TestBodyReplayedOnRetry(t *testing.T) {
	f := &flaky{}
	r := newRigWith(t, f, nil)
	body := strings.Repeat("x", 3000)
	for _, tt := range []struct {
		name string
		send func() *http.Response
	}{
		{"known length", func() *http.Response {
			return r.do("PUT", "/prov/x", alice, strings.NewReader(body))
		}},
		{"chunked", func() *http.Response {
			return r.raw("PUT /prov/x HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " + aliceToken +
				"\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n" + body + "\r\n0\r\n\r\n")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.send()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(got) != "3000 "+body {
				t.Fatalf("status %d, upstream got %.40q..., want the whole body with Content-Length 3000 on the retry", resp.StatusCode, got)
			}
		})
	}
}

// TestAcceptEncodingAsSent: the proxy asks the provider for no encoding the
// client did not ask for (so it never decompresses on a client's behalf).
func TestAcceptEncodingAsSent(t *testing.T) {
	r := newRig(t, nil)
	// Go's client would add Accept-Encoding: gzip itself: write the
	// request by hand.
	e := decodeEcho(t, r.raw("GET /prov/x HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer "+aliceToken+"\r\n\r\n"))
	if v := e.Header.Get("Accept-Encoding"); v != "" {
		t.Fatalf("upstream got Accept-Encoding %q from a client that sent none", v)
	}
	hdr := map[string]string{"Authorization": alice["Authorization"], "Accept-Encoding": "br"}
	e = decodeEcho(t, r.do("GET", "/prov/x", hdr, nil))
	if v := e.Header.Get("Accept-Encoding"); v != "br" {
		t.Fatalf("upstream got Accept-Encoding %q, want the client's br", v)
	}
}

// TestStreamFlushed: an answer of unknown length (server-sent events)
// reaches the client event by event: the provider sends its second event
// only after the client has read the first through the proxy.
func TestStreamFlushed(t *testing.T) {
	first := make(chan struct{})
	r := newRigWith(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-first:
		case <-req.Context().Done():
			return
		}
		io.WriteString(w, "data: 2\n\n")
	}), nil)
	resp := r.do("GET", "/prov/events", alice, nil)
	br := bufio.NewReader(resp.Body)
	got := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: 1\n" {
			t.Fatalf("first event: %q", line)
		}
	case <-time.After(10 * time.Second): // a bound, not a pause: the event comes at once when flushed
		close(first)
		t.Fatal("the first event was held back by the proxy")
	}
	close(first)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: 2\n\n" {
		t.Fatalf("rest of the stream: %q", rest)
	}
}

// TestAccessLogOff: with access_log: false a served request leaves no
// line; a refused one still does.
func TestAccessLogOff(t *testing.T) {
	off := false
	r := newRig(t, func(c *Config, _ string) { c.AccessLog = &off })
	decodeEcho(t, r.do("GET", "/prov/x", alice, nil))
	if strings.Contains(r.log(), `"msg":"request"`) {
		t.Fatalf("a served request was logged:\n%s", r.log())
	}
	if resp := r.do("GET", "/prov/x", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	if !strings.Contains(r.log(), `"reason":"unauthenticated"`) {
		t.Fatalf("a refused request was not logged:\n%s", r.log())
	}
}
