package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice"
)

const (
	aliceToken  = "tok-alice-0123456789"
	bobToken    = "tok-bob-9876543210"
	providerKey = "sk-provider-SECRET-42"
)

var testEnv = map[string]string{"ALICE": aliceToken, "BOB": bobToken, "PROVIDER_KEY": providerKey}

// echo is what the test upstream answers: what it received.
type echo struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/base/redirect" {
		http.Redirect(w, r, "http://elsewhere.example/", http.StatusFound)
		return
	}
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "X-Upstream-Hop")
	w.Header().Set("X-Upstream-Hop", "1")
	json.NewEncoder(w).Encode(echo{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header, string(b)})
}

// guard is the only dialer tests use: it dials loopback and fails the test
// on any other address.
type guard struct {
	t      *testing.T
	mu     sync.Mutex
	dialed []string
}

func (g *guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	g.dialed = append(g.dialed, addr)
	g.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		g.t.Errorf("test dialer asked for non-loopback %s", addr)
		return nil, io.ErrUnexpectedEOF
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (g *guard) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.dialed)
}

// names is a fake resolver.
type names map[string]string

func (n names) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	s, ok := n[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range strings.Split(s, ",") {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

type rig struct {
	t     *testing.T
	h     *Handler
	srv   *httptest.Server // the proxy
	up    *httptest.Server // the provider
	dial  *guard
	logs  *bytes.Buffer
	logMu *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// newRig starts a provider and a proxy in front of it. mod edits the
// Config (its Upstreams[0] targets the provider as provider.test).
func newRig(t *testing.T, mod func(c *Config, providerPort string)) *rig {
	t.Helper()
	return newRigWith(t, http.HandlerFunc(echoHandler), mod)
}

// newRigWith is newRig with the provider's handler given.
func newRigWith(t *testing.T, provider http.Handler, mod func(c *Config, providerPort string)) *rig {
	t.Helper()
	up := httptest.NewServer(provider)
	_, port, _ := net.SplitHostPort(up.Listener.Addr().String())
	r := &rig{t: t, up: up, dial: &guard{t: t}, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	cfg := Config{
		Upstreams: []Upstream{{
			Name: "prov", Prefix: "/prov", Target: "http://provider.test:" + port + "/base",
			Credential: &Credential{Env: "PROVIDER_KEY"}, Allow: []string{"loopback"},
		}},
		Forward:   Forward{Allow: []string{"fwd.test", "*.bad.test"}, AllowClasses: []string{"loopback"}},
		Consumers: []Consumer{{Name: "alice", TokenEnv: "ALICE"}, {Name: "bob", TokenEnv: "BOB"}},
		Getenv:    func(k string) string { return testEnv[k] },
		Resolver: names{
			"provider.test": "127.0.0.1", "fwd.test": "127.0.0.1",
			"lo.bad.test": "127.0.0.1", "meta.bad.test": "169.254.169.254", "ten.bad.test": "10.0.0.1",
			"cg.bad.test": "100.64.0.1", "any.bad.test": "0.0.0.0", "mc.bad.test": "239.1.1.1",
			"map.bad.test": "::ffff:127.0.0.1", "n64.bad.test": "64:ff9b::7f00:1", "6to4.bad.test": "2002:7f00:1::1",
			"ter.bad.test": "2001:0:4136:e378:8000:63bf:3fff:fdd2", "ula.bad.test": "fd00::1",
		},
		Dialer:   r.dial,
		Logger:   slog.New(slog.NewJSONHandler(lockedWriter{r.logMu, r.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Pipeline: sluice.Config{Routes: []sluice.Route{{Name: "prov", Match: sluice.Match{Host: "provider.test"}}}},
	}
	// In the rig, *.bad.test names are forward-allowed but resolve to
	// refused classes: loopback is allowed for fwd.test via AllowClasses, so
	// lo.bad.test is not refused; tests that want it refused drop that.
	if mod != nil {
		mod(&cfg, port)
	}
	h, err := New(cfg)
	if err != nil {
		up.Close()
		t.Fatal(err)
	}
	r.h = h
	srv := httptest.NewUnstartedServer(h)
	srv.Config.MaxHeaderBytes = h.cfg.MaxHeaderBytes
	srv.Start()
	r.srv = srv
	t.Cleanup(func() {
		srv.Close()
		h.Close()
		up.Close()
	})
	return r
}

func (r *rig) log() string {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	return r.logs.String()
}

// do sends a request to the proxy (origin-form, base-URL mode).
func (r *rig) do(method, path string, hdr map[string]string, body io.Reader) *http.Response {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// raw writes a request as bytes and reads the response (for absolute-form,
// CONNECT and malformed requests).
func (r *rig) raw(req string) *http.Response {
	r.t.Helper()
	c, err := net.Dial("tcp", r.srv.Listener.Addr().String())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		r.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decodeEcho(t *testing.T, resp *http.Response) echo {
	t.Helper()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var e echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

func problemOf(t *testing.T, resp *http.Response) problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}
