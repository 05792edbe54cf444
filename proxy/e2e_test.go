package proxy

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// need skips the test when a client program is missing (.ci/run installs
// them), unless SLUICE_REQUIRE_CLIENTS=1.
func need(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("SLUICE_REQUIRE_CLIENTS") == "1" {
				t.Fatalf("%s not installed", p)
			}
			t.Skipf("%s not installed", p)
		}
	}
	if contains(progs, "python3") {
		if err := exec.Command("python3", "-c", "import requests").Run(); err != nil {
			if os.Getenv("SLUICE_REQUIRE_CLIENTS") == "1" {
				t.Fatal("python3-requests not installed")
			}
			t.Skip("python3-requests not installed")
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// loopbackDialer dials loopback only; anything else fails the test.
type loopbackDialer struct{ t *testing.T }

func (d loopbackDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		d.t.Errorf("dial off loopback: %s", addr)
		return nil, fmt.Errorf("test: refused %s", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

var workerTokens = map[string]string{"W1": "tok-w1-aaaa", "W2": "tok-w2-bbbb", "W3": "tok-w3-cccc", "W4": "tok-w4-dddd"}

// e2eProxy serves a proxy in front of provider on loopback.
func e2eProxy(t *testing.T, provider string, pipe sluice.Config) *httptest.Server {
	t.Helper()
	cfg := Config{
		Upstreams: []Upstream{{Name: "api", Prefix: "/api", Target: provider, Allow: []string{"loopback"}}},
		Forward:   Forward{Allow: []string{"127.0.0.1"}, AllowClasses: []string{"loopback"}},
		Consumers: []Consumer{{Name: "w1", TokenEnv: "W1"}, {Name: "w2", TokenEnv: "W2"}, {Name: "w3", TokenEnv: "W3"}, {Name: "w4", TokenEnv: "W4"}},
		Getenv:    func(k string) string { return workerTokens[k] },
		Dialer:    loopbackDialer{t},
		Pipeline:  pipe,
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return srv
}

func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k := strings.ToUpper(kv[:strings.IndexByte(kv, '=')+1])
		if k == "HTTP_PROXY=" || k == "HTTPS_PROXY=" || k == "NO_PROXY=" || k == "ALL_PROXY=" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// TestClients: curl, Python (urllib by base URL, requests by HTTP_PROXY)
// and Node's fetch reach the provider through the proxy the way their
// users point them at it.
func TestClients(t *testing.T) {
	need(t, "curl", "python3", "node")
	prov := sluicetest.NewServer(sluicetest.Options{})
	defer prov.Close()
	srv := e2eProxy(t, prov.URL, sluice.Config{})
	tok := workerTokens["W1"]
	start := strconv.FormatInt(time.Now().UnixMilli(), 10)
	tests := []struct {
		name string
		cmd  []string
		env  []string
		want string
	}{
		{"curl base URL", []string{"curl", "-sS", "-H", "Authorization: Bearer " + tok, srv.URL + "/api/items/1"}, nil, `"path":"/items/1"`},
		{"curl HTTP_PROXY", []string{"curl", "-sS", "--noproxy", "", "-x", srv.URL, "-U", "w1:" + tok, prov.URL + "/items/2"}, nil, `"path":"/items/2"`},
		{"curl unauthenticated", []string{"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", srv.URL + "/api/items/1"}, nil, "401"},
		{"python urllib base URL", []string{"python3", "testdata/worker.py", "base", srv.URL + "/api", tok, "3", start}, nil, "ok=3 other=0"},
		{"python requests HTTP_PROXY", []string{"python3", "testdata/worker.py", "proxy", prov.URL, "", "3", start},
			[]string{"HTTP_PROXY=" + strings.Replace(srv.URL, "http://", "http://w1:"+tok+"@", 1)}, "ok=3 other=0"},
		{"node fetch base URL", []string{"node", "testdata/worker.mjs", srv.URL + "/api", tok, "3", start}, nil, "ok=3 other=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, tt.cmd[0], tt.cmd[1:]...)
			cmd.Env = cleanEnv(tt.env...)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), tt.want) {
				t.Fatalf("%v: %v\n%s", tt.cmd, err, out)
			}
		})
	}
}

type workerResult struct {
	ok, other int
	end       time.Time
	out       string
}

// runWorkers starts two Python and two Node worker processes, worker i on
// bases[i], each sending n requests from the same start instant.
// It also returns the scheduling stalls of this process during the run
// (see stallWatch).
func runWorkers(t *testing.T, bases [4]string, n int, start time.Time) ([]workerResult, []stall) {
	t.Helper()
	watch := watchStalls()
	ms := strconv.FormatInt(start.UnixMilli(), 10)
	ns := strconv.Itoa(n)
	cmds := [][]string{
		{"python3", "testdata/worker.py", "base", bases[0] + "/api", workerTokens["W1"], ns, ms, "4"},
		{"node", "testdata/worker.mjs", bases[1] + "/api", workerTokens["W2"], ns, ms, "4"},
		{"python3", "testdata/worker.py", "base", bases[2] + "/api", workerTokens["W3"], ns, ms, "4"},
		{"node", "testdata/worker.mjs", bases[3] + "/api", workerTokens["W4"], ns, ms, "4"},
	}
	res := make([]workerResult, len(cmds))
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, c[0], c[1:]...)
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			res[i].out = string(out)
			if err != nil {
				t.Errorf("worker %d: %v\n%s", i, err, out)
				return
			}
			var endMS int64
			fmt.Sscanf(strings.TrimSpace(string(out)), "ok=%d other=%d end_ms=%d", &res[i].ok, &res[i].other, &endMS)
			res[i].end = time.UnixMilli(endMS)
		})
	}
	wg.Wait()
	return res, watch.Stop()
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// acceptClock records when the provider accepted its first and last
// requests.
type acceptClock struct {
	mu          sync.Mutex
	first, last time.Time
	all         []time.Time // every accept, for gaps
}

func (a *acceptClock) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		a.mu.Lock()
		if a.first.IsZero() {
			a.first = now
		}
		a.last = now
		a.all = append(a.all, now)
		a.mu.Unlock()
		io.WriteString(w, `{"ok":true}`)
	})
}

// gaps returns the k longest intervals between accepts, with when they
// began (seconds after the first), longest first.
func (a *acceptClock) gaps(k int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	type gap struct {
		at, d time.Duration
	}
	var gs []gap
	for i := 1; i < len(a.all); i++ {
		gs = append(gs, gap{a.all[i-1].Sub(a.first), a.all[i].Sub(a.all[i-1])})
	}
	slices.SortFunc(gs, func(x, y gap) int { return cmp.Compare(y.d, x.d) })
	var b strings.Builder
	for i := 0; i < k && i < len(gs); i++ {
		fmt.Fprintf(&b, " %v at %.2fs", gs[i].d.Round(time.Millisecond), gs[i].at.Seconds())
	}
	return b.String()
}

func (a *acceptClock) span() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last.Sub(a.first)
}

// checkShare asserts zero 429s at the provider and >= 95% of the quota
// used: accepted / (burst + rate * span), span being the time from the
// provider's first accepted request to its last, so the workers' start-up
// and exit are not counted against the proxy.
//
// When this process was not scheduled for stallLimit or more while the
// provider was busy (stalls, from runWorkers), the machine is overloaded: the 429s and the
// share are logged, not asserted (every request must still succeed).
func checkShare(t *testing.T, prov *sluicetest.Server, clock *acceptClock, res []workerResult, stalls []stall, start time.Time, n int) {
	t.Helper()
	var end time.Time
	total := 0
	for i, r := range res {
		if r.ok != n || r.other != 0 {
			t.Errorf("worker %d: %s", i, r.out)
		}
		total += r.ok
		if r.end.After(end) {
			end = r.end
		}
	}
	st := prov.Stats()
	span := clock.span().Seconds()
	clock.mu.Lock()
	stall := worstStall(stalls, clock.first, clock.last)
	clock.mu.Unlock()
	used := float64(st.Accepted) / (10 + 50*span)
	t.Logf("%d requests, workers done %.2fs after the start, provider busy %.2fs: accepted %d, rejected %d; quota used %.1f%%; worst stall of this process meanwhile %v",
		total, end.Sub(start).Seconds(), span, st.Accepted, st.Rejected, used*100, stall.Round(time.Millisecond))
	if st.Rejected != 0 || used < 0.95 {
		t.Logf("longest gaps between accepted requests:%s", clock.gaps(5))
	}
	if stall >= stallLimit {
		t.Logf("this process stalled %v (>= %v): the machine is overloaded; provider 429s (%d) and quota share (%.1f%%) not asserted",
			stall.Round(time.Millisecond), stallLimit, st.Rejected, used*100)
		return
	}
	if st.Rejected != 0 {
		t.Errorf("provider throttled %d requests; want 0", st.Rejected)
	}
	switch {
	case raceEnabled:
		// The race detector slows the proxy and the clients several fold
		// on 2 shared cores; the share is asserted by the run without it
		// (.ci/run runs these tests again without -race).
		t.Logf("race detector on: quota share not asserted")
	case used < 0.95:
		t.Errorf("quota used %.1f%%, want >= 95%%", used*100)
	}
}

const perWorker = 75

// e2eRate is the route limit of the worker tests: 49/s burst 9 under the
// provider's 50/s burst 10. The race detector slows the provider's handler
// and the proxies' goroutines unevenly on 2 shared cores, so requests
// granted on time reach the provider bunched: with 49/s burst 9 a skew over
// about 20 ms can draw a 429 (2 of 300 in 1 of 4 runs of
// TestFourWorkersTwoReplicas under -race, fair queuing on or off). Under the
// race detector the route is 45/s burst 5, which absorbs about 100 ms of
// skew; the quota share is asserted only without it, at 49/s.
func e2eRate() (string, int64) {
	if raceEnabled {
		return "45/s", 5
	}
	return "49/s", 9
}

// TestFourWorkersOneProxy: two Python and two Node processes share one
// 50/s burst-10 quota through one proxy.
func TestFourWorkersOneProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("about 5 s of real time")
	}
	need(t, "python3", "node")
	clock := &acceptClock{}
	prov := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.TokenBucket(50, 10), Dialect: sluicetest.DialectIETF, Handler: clock.Handler()})
	defer prov.Close()
	rate, burst := e2eRate()
	srv := e2eProxy(t, prov.URL, sluice.Config{Routes: []sluice.Route{{Name: "api", Match: sluice.Match{Host: "127.0.0.1"},
		Policy: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: rate, Burst: burst}}}}}})
	start := time.Now().Add(1500 * time.Millisecond)
	res, stalls := runWorkers(t, [4]string{srv.URL, srv.URL, srv.URL, srv.URL}, perWorker, start)
	checkShare(t, prov, clock, res, stalls, start, perWorker)
}

func testRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	addr := os.Getenv("SLUICE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Logf("using the real Redis at %s", addr)
		t.Cleanup(func() { c.Close() })
		return c
	} else if os.Getenv("SLUICE_REQUIRE_REDIS") == "1" {
		t.Fatalf("SLUICE_REQUIRE_REDIS=1 but Redis at %s does not answer: %v", addr, err)
	}
	c.Close()
	m := miniredis.RunT(t)
	t.Logf("no Redis at %s: using miniredis", addr)
	mc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { mc.Close() })
	return mc
}

// TestFourWorkersTwoReplicas: the same workers split over two proxy
// replicas (each its own Handler, Transport and Redis limiter, as two
// processes would have) that share the quota through Redis.
func TestFourWorkersTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("about 5 s of real time")
	}
	need(t, "python3", "node")
	client := testRedis(t)
	prefix := fmt.Sprintf("sluiceproxytest-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := client.Keys(ctx, "{"+prefix+"*").Result(); len(keys) > 0 {
			client.Del(ctx, keys...)
		}
		if keys, _ := client.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	clock := &acceptClock{}
	prov := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.TokenBucket(50, 10), Dialect: sluicetest.DialectIETF, Handler: clock.Handler()})
	defer prov.Close()
	rate, burst := e2eRate()
	pipe := sluice.Config{
		Redis: &sluice.RedisConfig{Client: client, Prefix: prefix, ExpectedWorkers: 2, Timeout: 500 * time.Millisecond},
		Routes: []sluice.Route{{Name: "api", Match: sluice.Match{Host: "127.0.0.1"},
			Policy: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: rate, Burst: burst, Shared: true}}}}},
	}
	var logs syncLog
	pipe.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	defer func() {
		if t.Failed() {
			t.Logf("pipeline warnings:\n%s", logs.String())
		}
	}()
	a := e2eProxy(t, prov.URL, pipe)
	b := e2eProxy(t, prov.URL, pipe)
	start := time.Now().Add(1500 * time.Millisecond)
	res, stalls := runWorkers(t, [4]string{a.URL, a.URL, b.URL, b.URL}, perWorker, start)
	checkShare(t, prov, clock, res, stalls, start, perWorker)
}
