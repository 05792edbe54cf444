package sluicetest

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is 300 ms past a whole hour, so rounding is visible in the headers.
var t0 = time.Date(2026, 11, 2, 10, 0, 0, 300_000_000, time.UTC)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// call is one request for do.
type call struct {
	method string
	path   string
	body   string
	header map[string]string
}

// do sends c through rt and returns the response with its body read.
func do(t testing.TB, rt http.RoundTripper, base string, c call) (*http.Response, string, error) {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	if c.path == "" {
		c.path = "/"
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b), nil
}

// mustDo is do for requests that must get a response.
func mustDo(t testing.TB, rt http.RoundTripper, c call) (*http.Response, string) {
	t.Helper()
	res, body, err := do(t, rt, "http://api.test", c)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	return res, body
}
