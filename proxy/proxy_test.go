package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

var alice = map[string]string{"Authorization": "Bearer " + aliceToken}

func TestBaseURLPrefix(t *testing.T) {
	r := newRig(t, nil)
	e := decodeEcho(t, r.do("POST", "/prov/v1/chat%2Fx?q=1", map[string]string{
		"Authorization":    "Bearer " + aliceToken,
		"Sluice-Max-Wait":  "5s",
		"Sluice-Priority":  "high",
		"X-Forwarded-Host": "evil.example",
		"Forwarded":        "host=evil.example",
		"Content-Type":     "application/json",
	}, strings.NewReader(`{"a":1}`)))
	if e.Path != "/base/v1/chat/x" || e.Query != "q=1" || e.Body != `{"a":1}` || e.Method != "POST" {
		t.Fatalf("upstream got %+v", e)
	}
	if got := e.Header.Get("Authorization"); got != "Bearer "+providerKey {
		t.Fatalf("upstream Authorization %q, want the injected credential", got)
	}
	for _, h := range []string{"Sluice-Max-Wait", "Sluice-Priority", "X-Forwarded-Host", "Forwarded", "Proxy-Authorization"} {
		if v := e.Header.Get(h); v != "" {
			t.Errorf("upstream got %s: %q", h, v)
		}
	}
	if !strings.HasPrefix(e.Host, "provider.test:") {
		t.Errorf("upstream Host %q", e.Host)
	}
	// The answer's hop-by-hop headers (named in Connection) are stripped.
	resp := r.do("GET", "/prov/x", alice, nil)
	if resp.Header.Get("X-Upstream-Hop") != "" {
		t.Error("Connection-named response header passed")
	}
	logs := r.log()
	for _, s := range []string{aliceToken, providerKey} {
		if strings.Contains(logs, s) {
			t.Fatalf("log contains a secret %q:\n%s", s, logs)
		}
	}
	if !strings.Contains(logs, `"consumer":"alice"`) || !strings.Contains(logs, `"upstream":"prov"`) {
		t.Fatalf("access log lacks consumer/upstream:\n%s", logs)
	}
}

func TestVirtualHost(t *testing.T) {
	r := newRig(t, func(c *Config, _ string) {
		c.Upstreams[0].Prefix = ""
		c.Upstreams[0].Host = "prov.proxy.local"
	})
	req, _ := http.NewRequest("GET", r.srv.URL+"/v1/x", nil)
	req.Host = "prov.proxy.local:8080"
	req.Header.Set("Authorization", "Bearer "+bobToken)
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if e := decodeEcho(t, resp); e.Path != "/base/v1/x" {
		t.Fatalf("path %q", e.Path)
	}
	// A Host that names no upstream is not a way out (404, nothing dialed).
	n := r.dial.count()
	req.Host = "api.github.com"
	resp2, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if resp2.StatusCode != 404 || problemOf(t, resp2).Reason != "no_upstream" || r.dial.count() != n {
		t.Fatalf("unknown Host: %d", resp2.StatusCode)
	}
}

func TestAuthentication(t *testing.T) {
	r := newRig(t, nil)
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"no token base", "GET /prov/x HTTP/1.1\r\nHost: p\r\n\r\n", 401},
		{"wrong token base", "GET /prov/x HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer nope\r\n\r\n", 401},
		{"no token forward", "GET http://fwd.test/x HTTP/1.1\r\nHost: fwd.test\r\n\r\n", 407},
		{"wrong proxy token", "GET http://fwd.test/x HTTP/1.1\r\nHost: fwd.test\r\nProxy-Authorization: Bearer nope\r\n\r\n", 407},
		{"no token connect", "CONNECT fwd.test:443 HTTP/1.1\r\nHost: fwd.test:443\r\n\r\n", 407},
		{"basic proxy token", "GET /prov/x HTTP/1.1\r\nHost: p\r\nProxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("w:"+aliceToken)) + "\r\n\r\n", 200},
		{"basic user token", "GET /prov/x HTTP/1.1\r\nHost: p\r\nProxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(bobToken+":")) + "\r\n\r\n", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := r.dial.count()
			resp := r.raw(tt.raw)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" || tt.status == 407 && resp.Header.Get("Proxy-Authenticate") == "" {
				t.Fatal("no challenge header")
			}
			if tt.status != 200 && r.dial.count() != n {
				t.Fatal("dialed for an unauthenticated request")
			}
		})
	}
	if !strings.Contains(r.log(), `"reason":"unauthenticated"`) {
		t.Fatal("refusals not logged")
	}
}

func TestCredentialOverride(t *testing.T) {
	r := newRig(t, nil)
	// Authenticated by Proxy-Authorization, the client sends its own
	// Authorization: refused, since the upstream's credential is injected.
	resp := r.do("GET", "/prov/x", map[string]string{"Proxy-Authorization": "Bearer " + aliceToken, "Authorization": "Bearer mine"}, nil)
	if resp.StatusCode != 403 || problemOf(t, resp).Reason != "credential_override" {
		t.Fatalf("override: status %d", resp.StatusCode)
	}
	// Connection: Authorization cannot strip the injected credential, and
	// the proxy token named there is not forwarded.
	e := decodeEcho(t, r.do("GET", "/prov/x", map[string]string{"Authorization": "Bearer " + aliceToken, "Connection": "Authorization, X-Drop", "X-Drop": "1"}, nil))
	if e.Header.Get("Authorization") != "Bearer "+providerKey || e.Header.Get("X-Drop") != "" {
		t.Fatalf("upstream headers %v", e.Header)
	}

	r2 := newRig(t, func(c *Config, _ string) { c.Upstreams[0].Credential.ClientOverride = true })
	e = decodeEcho(t, r2.do("GET", "/prov/x", map[string]string{"Proxy-Authorization": "Bearer " + aliceToken, "Authorization": "Bearer mine"}, nil))
	if e.Header.Get("Authorization") != "Bearer mine" {
		t.Fatalf("allowed override: %q", e.Header.Get("Authorization"))
	}
}

func TestOpenRelayRefused(t *testing.T) {
	r := newRig(t, nil)
	pa := "Proxy-Authorization: Bearer " + aliceToken + "\r\n"
	tests := []struct {
		name, raw string
		status    int
		reason    string
	}{
		{"absolute URI to unconfigured host", "GET http://api.github.com/ HTTP/1.1\r\nHost: api.github.com\r\n" + pa + "\r\n", 403, "destination_refused"},
		{"absolute URI vs allowed Host", "GET http://evil.example/ HTTP/1.1\r\nHost: fwd.test\r\n" + pa + "\r\n", 403, "destination_refused"},
		{"absolute URI to an IP", "GET http://169.254.169.254/latest/meta-data HTTP/1.1\r\nHost: fwd.test\r\n" + pa + "\r\n", 403, "destination_refused"},
		{"CONNECT to unconfigured host", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n" + pa + "\r\n", 403, "destination_refused"},
		{"CONNECT to a refused port", "CONNECT fwd.test:22 HTTP/1.1\r\nHost: fwd.test:22\r\n" + pa + "\r\n", 403, "port_refused"},
		{"https absolute form", "GET https://fwd.test/ HTTP/1.1\r\nHost: fwd.test\r\n" + pa + "\r\n", 400, "bad_scheme"},
		{"no upstream on path", "GET /github/repos HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Bearer " + aliceToken + "\r\n\r\n", 404, "no_upstream"},
		{"dot segments", "GET /prov/../../etc HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " + aliceToken + "\r\n\r\n", 400, "bad_path"},
		{"encoded dot segments", "GET /prov/%2e%2e/x HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " + aliceToken + "\r\n\r\n", 400, "bad_path"},
		{"bad control header", "GET /prov/x HTTP/1.1\r\nHost: p\r\nSluice-Max-Wait: forever\r\nAuthorization: Bearer " + aliceToken + "\r\n\r\n", 400, "bad_control_header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := r.dial.count()
			resp := r.raw(tt.raw)
			if resp.StatusCode != tt.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if p := problemOf(t, resp); p.Reason != tt.reason {
				t.Fatalf("reason %q, want %q", p.Reason, tt.reason)
			}
			if r.dial.count() != n {
				t.Fatal("something was dialed")
			}
			if !strings.Contains(r.log(), `"reason":"`+tt.reason+`"`) {
				t.Fatal("no log line with the reason")
			}
		})
	}
}

// TestRefusedAddressClasses: forward-allowed names that resolve to each
// refused class are refused before anything is dialed.
func TestRefusedAddressClasses(t *testing.T) {
	r := newRig(t, func(c *Config, _ string) { c.Forward.AllowClasses = nil })
	for _, host := range []string{"lo", "meta", "ten", "cg", "any", "mc", "map", "n64", "6to4", "ter", "ula"} {
		t.Run(host, func(t *testing.T) {
			for _, raw := range []string{
				"GET http://" + host + ".bad.test/ HTTP/1.1\r\nHost: " + host + ".bad.test\r\nProxy-Authorization: Bearer " + aliceToken + "\r\n\r\n",
				"CONNECT " + host + ".bad.test:443 HTTP/1.1\r\nHost: " + host + ".bad.test:443\r\nProxy-Authorization: Bearer " + aliceToken + "\r\n\r\n",
			} {
				resp := r.raw(raw)
				if resp.StatusCode != 403 || problemOf(t, resp).Reason != "destination_refused" {
					t.Fatalf("%q: status %d", raw[:8], resp.StatusCode)
				}
			}
		})
	}
	if n := r.dial.count(); n != 0 {
		t.Fatalf("dialed %d times", n)
	}
}

func TestUpstreamResolvingToMetadataRefused(t *testing.T) {
	r := newRig(t, func(c *Config, _ string) {
		c.Resolver = names{"provider.test": "169.254.169.254"}
		c.Upstreams[0].Allow = []string{"private"} // link-local is not private
	})
	resp := r.do("GET", "/prov/x", alice, nil)
	if resp.StatusCode != 403 || problemOf(t, resp).Reason != "destination_refused" || r.dial.count() != 0 {
		t.Fatalf("status %d, dialed %d", resp.StatusCode, r.dial.count())
	}
}

func TestSelfRefused(t *testing.T) {
	// An upstream pointed at the proxy's own listening address (a loop)
	// is refused though loopback is allowed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pport := strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	ln.Close()
	r2 := newRig(t, func(c *Config, _ string) {
		c.Upstreams[0].Target = "http://provider.test:" + pport
		c.Self = []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:" + pport)}
	})
	resp := r2.do("GET", "/prov/x", alice, nil)
	if resp.StatusCode != 403 || r2.dial.count() != 0 {
		t.Fatalf("loop to self: status %d", resp.StatusCode)
	}
}

func TestForwardMode(t *testing.T) {
	r := newRig(t, func(c *Config, _ string) {})
	_, port, _ := net.SplitHostPort(r.up.Listener.Addr().String())
	resp := r.raw("GET http://fwd.test:" + port + "/base/z?x=1 HTTP/1.1\r\nHost: fwd.test:" + port + "\r\nProxy-Authorization: Bearer " + aliceToken + "\r\nX-Forwarded-Host: evil\r\n\r\n")
	e := decodeEcho(t, resp)
	if e.Path != "/base/z" || e.Query != "x=1" || e.Header.Get("Proxy-Authorization") != "" || e.Header.Get("X-Forwarded-Host") != "" {
		t.Fatalf("upstream got %+v", e)
	}
}

func TestNoRedirectFollowing(t *testing.T) {
	r := newRig(t, nil)
	req, _ := http.NewRequest("GET", r.srv.URL+"/prov/redirect", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "http://elsewhere.example/" || r.dial.count() != 1 {
		t.Fatalf("status %d, location %q, dials %d", resp.StatusCode, resp.Header.Get("Location"), r.dial.count())
	}
}

func TestSizeLimits(t *testing.T) {
	r := newRig(t, func(c *Config, _ string) { c.MaxBodyBytes = 100; c.MaxHeaderBytes = 4096 })
	resp := r.do("POST", "/prov/x", alice, strings.NewReader(strings.Repeat("a", 101)))
	if resp.StatusCode != 413 {
		t.Fatalf("body: %d", resp.StatusCode)
	}
	// A chunked body over the limit is cut while streaming.
	resp = r.raw("POST /prov/x HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " + aliceToken + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"c8\r\n" + strings.Repeat("b", 200) + "\r\n0\r\n\r\n")
	if resp.StatusCode != 413 && resp.StatusCode != 502 {
		t.Fatalf("chunked body: %d", resp.StatusCode)
	}
	resp = r.raw("GET /prov/x HTTP/1.1\r\nHost: p\r\nX-Big: " + strings.Repeat("h", 20000) + "\r\nAuthorization: Bearer " + aliceToken + "\r\n\r\n")
	if resp.StatusCode != 431 {
		t.Fatalf("header: %d", resp.StatusCode)
	}
	if r.dial.count() != 0 {
		t.Fatal("an oversized request was sent upstream")
	}
}

func TestUpstreamTLSVerified(t *testing.T) {
	tlsUp := httptest.NewTLSServer(http.HandlerFunc(echoHandler))
	defer tlsUp.Close()
	_, port, _ := net.SplitHostPort(tlsUp.Listener.Addr().String())
	target := "https://example.com:" + port + "/base" // httptest's certificate names example.com
	mod := func(c *Config, _ string) {
		c.Upstreams[0].Target = target
		c.Resolver = names{"example.com": "127.0.0.1"}
	}
	r := newRig(t, mod)
	resp := r.do("GET", "/prov/x", alice, nil)
	if resp.StatusCode != 502 || problemOf(t, resp).Reason != "upstream_tls" {
		t.Fatalf("unverified upstream: %d", resp.StatusCode)
	}
	pool := x509.NewCertPool()
	pool.AddCert(tlsUp.Certificate())
	r2 := newRig(t, func(c *Config, p string) { mod(c, p); c.TLSClientConfig = &tls.Config{RootCAs: pool} })
	decodeEcho(t, r2.do("GET", "/prov/x", alice, nil))
	if _, err := New(Config{AllowAnonymous: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}); err == nil {
		t.Fatal("InsecureSkipVerify accepted")
	}
}

func limited(rate string) func(c *Config, _ string) {
	return func(c *Config, _ string) {
		c.Pipeline.Routes[0].Limits = []sluice.LimitConfig{{Rate: rate, Burst: 1}}
	}
}

// TestQueueInsteadOf429: a request over the limit waits for its turn
// within Sluice-Max-Wait; one that cannot be served in time gets 429 with
// Retry-After, RateLimit headers and a problem body.
func TestQueueInsteadOf429(t *testing.T) {
	r := newRig(t, limited("5/s"))
	start := time.Now()
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", r.srv.URL+"/prov/x", nil)
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			req.Header.Set("Sluice-Max-Wait", "5s")
			resp, err := r.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	if el := time.Since(start); codes[0] != 200 || codes[1] != 200 || codes[2] != 200 || el < 300*time.Millisecond {
		t.Fatalf("codes %v after %v; want all 200 after queueing ~400ms", codes, el)
	}
	// Fill the queue, then ask with a short wait.
	for range 5 {
		go func() {
			req, _ := http.NewRequest("GET", r.srv.URL+"/prov/x", nil)
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			req.Header.Set("Sluice-Max-Wait", "0.05")
			if resp, err := r.srv.Client().Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	var resp *http.Response
	for range 20 {
		resp = r.do("GET", "/prov/x", map[string]string{"Authorization": "Bearer " + aliceToken, "Sluice-Max-Wait": "10ms"}, nil)
		if resp.StatusCode == 429 {
			break
		}
	}
	if resp.StatusCode != 429 {
		t.Fatalf("status %d, want 429", resp.StatusCode)
	}
	if resp.Header.Get("Retry-After") == "" || !strings.Contains(resp.Header.Get("RateLimit-Policy"), `"prov";q=5;w=1`) ||
		!strings.Contains(resp.Header.Get("RateLimit"), `r=0`) {
		t.Fatalf("headers %v", resp.Header)
	}
	if p := problemOf(t, resp); p.Reason != "rate_limited" || p.Route != "prov" || p.Status != 429 {
		t.Fatalf("problem %+v", p)
	}
	time.Sleep(300 * time.Millisecond) // let the short-wait requests end before Cleanup
}

func TestDrainAnswersQueued503(t *testing.T) {
	r := newRig(t, limited("1/10s"))
	decodeEcho(t, r.do("GET", "/prov/x", alice, nil)) // takes the only unit
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest("GET", r.srv.URL+"/prov/x", nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		req.Header.Set("Sluice-Max-Wait", "30s")
		resp, err := r.srv.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for r.h.waiting() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	r.h.Drain()
	select {
	case code := <-done:
		if code != 503 {
			t.Fatalf("queued request got %d, want 503", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued request not released by Drain")
	}
	if resp := r.do("GET", "/prov/x", alice, nil); resp.StatusCode != 503 {
		t.Fatalf("after drain: %d", resp.StatusCode)
	}
}

func TestConnectTunnel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var p int
	for _, ch := range port {
		p = p*10 + int(ch-'0')
	}
	r := newRig(t, func(c *Config, _ string) { c.Forward.ConnectPorts = []int{p} })
	c, err := net.Dial("tcp", r.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT fwd.test:"+port+" HTTP/1.1\r\nHost: fwd.test:"+port+"\r\nProxy-Authorization: Bearer "+aliceToken+"\r\n\r\n")
	br := bufioReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("tunnel echo %q %v", buf, err)
	}
	if r.h.Stats().TunnelsOpen != 1 {
		t.Fatalf("tunnels open %d", r.h.Stats().TunnelsOpen)
	}
	c.Close()
	for r.h.Stats().TunnelsOpen != 0 {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCacheNotSharedAcrossConsumers: with a cached route and one injected
// provider credential, a response cached for one consumer is not served to
// another; the consumer marker never reaches the provider.
func TestCacheNotSharedAcrossConsumers(t *testing.T) {
	r := newRig(t, func(c *Config, _ string) {
		c.Pipeline.Routes[0].Cache = &sluice.CacheConfig{TTL: time.Minute}
	})
	bob := map[string]string{"Authorization": "Bearer " + bobToken}
	e := decodeEcho(t, r.do("GET", "/prov/cached", alice, nil))
	if e.Header.Get(consumerHeader) != "" {
		t.Fatal("consumer marker sent upstream")
	}
	decodeEcho(t, r.do("GET", "/prov/cached", alice, nil))
	decodeEcho(t, r.do("GET", "/prov/cached", bob, nil))
	st, _ := r.h.Transport().Stats().Route("prov")
	if st.Attempts != 2 || st.CacheHits != 1 {
		t.Fatalf("attempts %d, cache hits %d; want 2 and 1 (alice hit once, bob not served alice's entry)", st.Attempts, st.CacheHits)
	}
}
