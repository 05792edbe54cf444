package sluice

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// call is one request a script saw.
type call struct {
	at     time.Time
	method string
	url    string
	header http.Header
	body   string
}

// script is a base RoundTripper whose answers come from a function of the
// call's number (0-based), recording every call.
type script struct {
	mu     sync.Mutex
	calls  []call // guarded by mu
	answer func(n int, req *http.Request) (*http.Response, error)
}

func (s *script) RoundTrip(req *http.Request) (*http.Response, error) {
	var body string
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body.Close()
		body = string(b)
	}
	s.mu.Lock()
	n := len(s.calls)
	s.calls = append(s.calls, call{at: time.Now(), method: req.Method, url: req.URL.String(), header: req.Header.Clone(), body: body})
	s.mu.Unlock()
	resp, err := s.answer(n, req)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

func (s *script) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func (s *script) get(i int) call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[i]
}

// reply builds a response with the given status and header pairs.
func reply(status int, kv ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(`{"ok":true}`)),
	}
}

// sequence answers with the given statuses in turn, then 200 forever.
func sequence(statuses ...int) func(int, *http.Request) (*http.Response, error) {
	return func(n int, _ *http.Request) (*http.Response, error) {
		if n < len(statuses) {
			if statuses[n] == 0 {
				return nil, errReset
			}
			return reply(statuses[n]), nil
		}
		return reply(200), nil
	}
}

// errReset stands for a connection reset after the request was written.
var errReset = &netErr{"read: connection reset by peer"}

type netErr struct{ s string }

func (e *netErr) Error() string   { return e.s }
func (e *netErr) Timeout() bool   { return false }
func (e *netErr) Temporary() bool { return false }

// do sends one request through t and returns its status (0 on error).
func do(t http.RoundTripper, method, url string, body string, hdr ...string) (*http.Response, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := t.RoundTrip(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}
