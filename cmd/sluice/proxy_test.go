package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/proxy"
)

const proxyConfig = `
routes:
  - name: up
    match: {host: 127.0.0.1}
    limits: [{rate: 100/s, burst: 10}]
proxy:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  drain_timeout: 2s
  consumers:
    - {name: w1, token_env: SLUICE_TEST_TOKEN_%s}
  upstreams:
    - {name: up, prefix: /up, target: %s, allow: [loopback], credential: {env: SLUICE_TEST_UPKEY}}
`

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProxyCommand(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path+" "+r.Header.Get("Authorization"))
	}))
	defer up.Close()
	t.Setenv("SLUICE_TEST_TOKEN_A", "tokA")
	t.Setenv("SLUICE_TEST_TOKEN_B", "tokB")
	t.Setenv("SLUICE_TEST_UPKEY", "upkey")
	dir := t.TempDir()
	path := filepath.Join(dir, "proxy.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(sprintf(proxyConfig, "A", up.URL))
	pr, pw := io.Pipe()
	stderr := &syncBuf{}
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() {
		done <- serveProxy(context.Background(), []string{"-config", path}, pw, stderr, sigs)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner: %v; stderr: %s", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	f := strings.Fields(line)
	addr, adminAddr := strings.TrimSuffix(f[4], ","), f[7]
	get := func(base, p, tok string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+base+p, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(addr, "/up/x", "tokA"); code != 200 || body != "/x Bearer upkey" {
		t.Fatalf("proxied: %d %q", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/status", "/status.json"} {
		if code, body := get(adminAddr, p, ""); code != 200 || body == "" {
			t.Fatalf("admin %s: %d", p, code)
		}
	}
	if _, body := get(adminAddr, "/metrics", ""); !strings.Contains(body, `sluice_requests_total{route="up",outcome="success"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}
	// A bad config is refused on SIGHUP and the old one keeps serving.
	write("proxy: {consumers: []}\n")
	sigs <- syscall.SIGHUP
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "reload failed") })
	if code, _ := get(addr, "/up/x", "tokA"); code != 200 {
		t.Fatalf("after a bad reload: %d", code)
	}
	// A good one replaces it atomically.
	write(sprintf(proxyConfig, "B", up.URL))
	sigs <- syscall.SIGHUP
	waitFor(t, func() bool { return strings.Contains(stderr.String(), `"msg":"reloaded"`) })
	if code, _ := get(addr, "/up/x", "tokA"); code != 401 {
		t.Fatalf("old token after reload: %d", code)
	}
	if code, _ := get(addr, "/up/x", "tokB"); code != 200 {
		t.Fatalf("new token after reload: %d", code)
	}
	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	for _, s := range []string{"tokA", "tokB", "upkey"} {
		if strings.Contains(stderr.String(), s) {
			t.Fatalf("log has a secret: %s", stderr.String())
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5s")
}

// TestReadmeProxyConfig builds a proxy from the configuration the README's
// "Run it as a proxy" writes, with the two variables it exports set and no
// other: the two-minute path must start (it once needed GITHUB_TOKEN it
// never set). examples/proxy.yaml, the fuller one, must validate.
func TestReadmeProxyConfig(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "cat > /tmp/sluice-proxy.yaml <<'EOF'\n")
	yamlText, _, ok2 := strings.Cut(rest, "\nEOF\n")
	if !ok || !ok2 {
		t.Fatal("README has no proxy configuration heredoc")
	}
	cfg, err := proxy.Parse([]byte(yamlText))
	if err != nil {
		t.Fatalf("README's proxy configuration: %v\n%s", err, yamlText)
	}
	env := map[string]string{"OPENAI_API_KEY": "sk-test", "SLUICE_TOKEN": "tok"}
	cfg.Getenv = func(k string) string { return env[k] }
	h, err := proxy.New(cfg)
	if err != nil {
		t.Fatalf("the README's proxy does not start with OPENAI_API_KEY and SLUICE_TOKEN set: %v", err)
	}
	h.Close()
	if _, err := proxy.LoadFile(filepath.Join("..", "..", "examples", "proxy.yaml")); err != nil {
		t.Fatalf("examples/proxy.yaml: %v", err)
	}
}
