package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// children lists the processes whose parent is this one, zombies included
// (a worker that ended but was never waited for). It skips the test where
// /proc cannot be read.
func children(t *testing.T) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		t.Skip("no /proc: cannot list child processes")
	}
	me := strconv.Itoa(os.Getpid())
	var out []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == me {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/stat")+" "+f[0])
		}
	}
	return out
}

var proxyDemoArgs = []string{"demo", "-proxy", "-requests", "90", "-rate", "200", "-burst", "20", "-concurrency", "9", "-workers", "3", "-progress=false"}

// TestDemoProxy runs `demo -proxy` with three worker processes: the plain
// clients lose work to 429s, both proxy runs do all of it with no 429 at
// the provider, the report has a row per worker (the HTML one a table per
// run), and every worker process has ended and been reaped when it
// returns.
func TestDemoProxy(t *testing.T) {
	t.Setenv(runAsMain, "1")
	var out, errOut bytes.Buffer
	start := time.Now()
	report := filepath.Join(t.TempDir(), "report.html")
	code := run(context.Background(), append(slices.Clone(proxyDemoArgs), "-report", report), &out, &errOut)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if left := children(t); len(left) > 0 {
		t.Fatalf("worker processes left behind: %v", left)
	}
	if took > 30*time.Second {
		t.Errorf("took %v", took)
	}
	text := out.String()
	for _, re := range []string{
		`(?m)^plain http\.Client +\d+ of 90 done, [1-9]\d* lost, .*; [1-9]\d* 429s caused$`,
		`(?m)^proxy \(rate set\) +90 of 90 done, 0 lost, in .* \(the limit permits 350ms uncached\); 0 429s caused$`,
		`(?m)^proxy \(learns it\) +90 of 90 done, 0 lost, in .*; 0 429s caused$`,
		`(?m)^work done \(2xx\) +\d+/90 +90/90 +90/90$`,
		`(?m)^worker 1 \(30 requests\) +\d+ done, .*, \d+ 429s +30 done, [^,]+, 0 429s +30 done, [^,]+, 0 429s$`,
		`(?m)^worker 3 \(30 requests\) `,
		`(?m)^status page: http://127\.0\.0\.1:\d+/status `,
		`proxy (rate set): provider answers per second`,
	} {
		if !regexp.MustCompile(re).MatchString(text) && !strings.Contains(text, re) {
			t.Errorf("output lacks %s:\n%s", re, text)
		}
	}
	if strings.Contains(text, "worker 4") || strings.Contains(text, "try it:") {
		t.Errorf("a fourth worker, or a hold without -hold:\n%s", text)
	}
	checkProxyReport(t, report)
}

// checkProxyReport reads the HTML report of TestDemoProxy's run: a table
// per run, a row per worker, no 429 at the provider through the proxy, the
// proxy runs' shares of the accepted requests adding up to 100%.
func checkProxyReport(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tables := regexp.MustCompile(`(?s)<table class="workers">\s*<caption>([^<]*)</caption>(.*?)</table>`).FindAllStringSubmatch(string(b), -1)
	if len(tables) != 3 {
		t.Fatalf("%d worker tables in the report, want 3", len(tables))
	}
	cell := regexp.MustCompile(`<td[^>]*>([^<]*)</td>`)
	for i, tb := range tables {
		rows := regexp.MustCompile(`(?s)<tr><td.*?</tr>`).FindAllString(tb[2], -1)
		if len(rows) != 3 {
			t.Errorf("%s: %d rows, want one per worker (3)", tb[1], len(rows))
			continue
		}
		share := 0.0
		for k, row := range rows {
			var c []string
			for _, m := range cell.FindAllStringSubmatch(row, -1) {
				c = append(c, m[1])
			}
			if len(c) != 11 || c[0] != "worker "+strconv.Itoa(k+1) || c[3] != "30" {
				t.Errorf("%s: row %q", tb[1], c)
				continue
			}
			if i == 0 {
				continue // the plain clients: 429s and lost work are expected
			}
			if c[1] != "worker-"+strconv.Itoa(k+1) || c[4] != "30" || c[5] != "0" || c[6] != "0" || c[8] == "-" || c[9] == "-" {
				t.Errorf("%s: row %q, want the consumer, 30 done, no 429 and latencies", tb[1], c)
			}
			v, err := strconv.ParseFloat(strings.TrimSuffix(c[7], "%"), 64)
			if err != nil {
				t.Errorf("%s: share %q", tb[1], c[7])
			}
			share += v
		}
		if i > 0 && (share < 99.8 || share > 100.2) {
			t.Errorf("%s: shares add up to %.1f%%", tb[1], share)
		}
	}
}

// TestDemoProxyInterrupted cancels `demo -proxy` (Ctrl-C) while the
// workers queue at the proxy: it returns 130 at once and leaves no worker
// process behind.
func TestDemoProxyInterrupted(t *testing.T) {
	t.Setenv(runAsMain, "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &watch{want: "proxy (rate set)", seen: make(chan struct{})}
	done := make(chan int, 1)
	var errOut syncBuf
	go func() {
		// 600 requests at 50/s: the rate-set run would take 12 s.
		done <- run(ctx, []string{"demo", "-proxy", "-requests", "600", "-rate", "50", "-burst", "10", "-concurrency", "8", "-workers", "2", "-chart", "off"}, io.Discard, io.MultiWriter(w, &errOut))
	}()
	select {
	case <-w.seen: // the progress line of the proxy run
	case <-time.After(30 * time.Second):
		t.Fatalf("the proxy run did not start; stderr:\n%s", errOut.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 1 && code != 130 {
			t.Fatalf("exit %d after an interrupt, want 130 (or 1: a worker killed)\n%s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no return 10 s after the interrupt")
	}
	if left := children(t); len(left) > 0 {
		t.Fatalf("worker processes left behind: %v", left)
	}
}

// TestDemoProxyHold keeps the proxy up with -hold: while it holds, the
// status page and /metrics answer, and the curl line it prints works with
// the token it prints; cancelling ends the hold with exit 0.
func TestDemoProxyHold(t *testing.T) {
	t.Setenv(runAsMain, "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &watch{want: "(a throwaway token", seen: make(chan struct{})}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append(proxyDemoArgs, "-chart", "off", "-hold"), out, io.Discard) }()
	select {
	case <-out.seen:
	case code := <-done:
		t.Fatalf("exit %d without holding:\n%s", code, out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no hold line in 30 s:\n%s", out.String())
	}
	text := out.String()
	status := regexp.MustCompile(`status page: (http://\S+)/status`).FindStringSubmatch(text)
	try := regexp.MustCompile(`curl -H 'Authorization: Bearer (\w+)' (\S+)`).FindStringSubmatch(text)
	if status == nil || try == nil {
		t.Fatalf("no status address or curl line:\n%s", text)
	}
	get := func(url, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(status[1]+"/status", ""); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("status page: %d %.80q", code, body)
	}
	if code, _ := get(try[2], try[1]); code != 200 {
		t.Errorf("the printed curl line: %d", code)
	}
	if code, _ := get(try[2], "not-the-token"); code != 401 {
		t.Errorf("a wrong token: %d, want 401", code)
	}
	if code, body := get(status[1]+"/metrics", ""); code != 200 || !strings.Contains(body, `consumer="worker-1"`) {
		t.Errorf("metrics: %d\n%s", code, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after the hold", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hold did not end 10 s after Ctrl-C")
	}
}

// watch is an io.Writer that closes seen once want has been written.
type watch struct {
	mu   sync.Mutex
	b    strings.Builder
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestHoldFlag(t *testing.T) {
	tests := []struct {
		args    []string
		want    holdFlag
		wantErr bool
	}{
		{[]string{"-proxy"}, holdFlag{}, false},
		{[]string{"-proxy", "-hold"}, holdFlag{forever: true}, false},
		{[]string{"-proxy", "-hold=30s"}, holdFlag{d: 30 * time.Second}, false},
		{[]string{"-proxy", "-hold=false"}, holdFlag{}, false},
		{[]string{"-proxy", "-hold=-1s"}, holdFlag{}, true},
		{[]string{"-proxy", "-hold=soon"}, holdFlag{}, true},
		{[]string{"-hold"}, holdFlag{}, true},                                        // without -proxy
		{[]string{"-proxy", "-workers", "0"}, holdFlag{}, true},                      // no worker
		{[]string{"-proxy", "-workers", "8", "-concurrency", "4"}, holdFlag{}, true}, // a worker without a goroutine
	}
	for _, tt := range tests {
		o, err := parseDemoFlags(tt.args, io.Discard)
		if (err != nil) != tt.wantErr || (err == nil && o.hold != tt.want) {
			t.Errorf("%q: hold %+v, error %v; want %+v, error %v", tt.args, o.hold, err, tt.want, tt.wantErr)
		}
	}
}

// TestDemoWorkerProtocol runs the worker in-process: bad flags exit 2, a
// parent that goes away before "go" sends nothing (exit 1), and a run
// reports what the provider answered.
func TestDemoWorkerProtocol(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
		out   string // a regexp stdout must match
	}{
		{"no url", []string{"--", "-requests", "4"}, "", 2, `^$`},
		{"bad worker index", []string{"-url", "http://127.0.0.1:1", "-worker", "3", "-workers", "3"}, "", 2, `^$`},
		{"bad demo flag", []string{"-url", "http://127.0.0.1:1", "--", "-rate", "0"}, "", 2, `^$`},
		{"proxy without token", []string{"-url", "http://127.0.0.1:1", "-via-proxy"}, "", 2, `^$`},
		{"parent gone before go", []string{"-url", "http://127.0.0.1:1"}, "", 1, `^ready\n$`},
		{"parent says something else", []string{"-url", "http://127.0.0.1:1"}, "stop\n", 1, `^ready\n$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tokenEnv, "")
			var out, errOut bytes.Buffer
			code := runIn(context.Background(), append([]string{"demo-worker"}, tt.args...), strings.NewReader(tt.stdin), &out, &errOut)
			if code != tt.code || !regexp.MustCompile(tt.out).MatchString(out.String()) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout ~%s", code, out.String(), errOut.String(), tt.code, tt.out)
			}
		})
	}
}
