package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// chromium runs headless Chromium with a fresh profile and returns its
// stdout.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=6000", "--window-size=1100,760", "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, "chromium", append(base, args...)...)
	cmd.Env = cleanEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, ":CONSOLE:") && strings.Contains(line, "Uncaught") {
			t.Errorf("page script error: %s", line)
		}
	}
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// TestStatusPage loads the status page in a real headless Chromium while
// traffic flows, and checks that its script ran, polled status.json and
// drew a chart per route. SLUICE_STATUS_SCREENSHOT=FILE also saves a
// screenshot (docs/proxy-status.png was made so).
func TestStatusPage(t *testing.T) {
	need(t, "chromium")
	clock := &acceptClock{}
	prov := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.TokenBucket(50, 10), Dialect: sluicetest.DialectIETF, Handler: clock.Handler()})
	defer prov.Close()
	cfg := Config{
		Upstreams: []Upstream{{Name: "api", Prefix: "/api", Target: prov.URL, Allow: []string{"loopback"}}},
		Consumers: []Consumer{{Name: "w1", TokenEnv: "W1"}},
		Getenv:    func(k string) string { return workerTokens[k] },
		Dialer:    loopbackDialer{t},
		Pipeline: sluice.Config{Routes: []sluice.Route{
			{Name: "openai", Match: sluice.Match{Host: "127.0.0.1", Path: "/v1/"}, Policy: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "20/s", Burst: 5}}}},
			{Name: "github", Match: sluice.Match{Host: "127.0.0.1"}, Policy: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "40/s", Burst: 5}}}},
		}},
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	admin := httptest.NewServer(h.Admin())
	defer admin.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			path := "/api/v1/chat"
			if i%2 == 1 {
				path = "/api/repos/x"
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+workerTokens["W1"])
				req.Header.Set("Sluice-Max-Wait", "2s")
				if resp, err := srv.Client().Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(time.Duration(sleepSecs()) * time.Second) // let the history fill before the page loads

	dom := chromium(t, "--dump-dom", admin.URL+"/status")
	for _, want := range []string{`data-route="openai"`, `data-route="github"`, `id="c-openai"`, "limit 20.0/s", "limit 40.0/s", "ietf:default", "<canvas"} {
		if !strings.Contains(dom, want) {
			t.Errorf("status page lacks %q:\n%s", want, dom)
		}
	}
	if !strings.Contains(dom, `id="summary">2 routes`) || !strings.Contains(dom, `data-ticks="`) {
		t.Errorf("status page did not poll:\n%s", dom)
	}
	if shot := os.Getenv("SLUICE_STATUS_SCREENSHOT"); shot != "" {
		chromium(t, "--screenshot="+shot, "--hide-scrollbars", admin.URL+"/status")
	}
}

// sleepSecs is how long traffic flows before the page loads: 3 s, or more
// when a screenshot is asked for (a fuller chart).
func sleepSecs() int {
	if os.Getenv("SLUICE_STATUS_SCREENSHOT") != "" {
		return 40
	}
	return 3
}
