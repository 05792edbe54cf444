package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/proxy"
)

// holdFlag is -hold: how long `demo -proxy` keeps the proxy and its status
// page up after the report. "-hold" alone means until Ctrl-C; "-hold=30s"
// for 30 seconds (Ctrl-C ends it sooner).
type holdFlag struct {
	d       time.Duration
	forever bool
}

func (h *holdFlag) String() string {
	switch {
	case h == nil || (!h.forever && h.d == 0):
		return "0s"
	case h.forever:
		return "until Ctrl-C"
	}
	return h.d.String()
}

func (h *holdFlag) Set(s string) error {
	switch s {
	case "true":
		*h = holdFlag{forever: true}
		return nil
	case "false":
		*h = holdFlag{}
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 30s, or no value for until Ctrl-C")
	}
	*h = holdFlag{d: d}
	return nil
}

// IsBoolFlag lets -hold stand alone.
func (h *holdFlag) IsBoolFlag() bool { return true }

// proxyDemo is one `sluice demo -proxy` run: the provider, a proxy in
// this process, and the worker processes.
type proxyDemo struct {
	o      demoOptions
	sc     scenario
	srv    *demoServer
	tokens []string
	exe    string
	stderr io.Writer

	live     live     // the proxy listener's current Handler
	self     net.Addr // the proxy listener's address, never dialed
	proxyURL string
	adminURL string
}

// workerRow is one worker's part of a run: its own report, and the
// provider's answers to the requests it sent (by outcome).
type workerRow struct {
	rep      workerReport
	provider [3]int64
}

// proxyRun is one run of the job through several processes.
type proxyRun struct {
	result
	workers  []workerRow
	viaProxy bool // the workers' consumers are worker-1, worker-2, ...
}

// demoProxy runs the scenario's job from o.workers OS processes: first
// straight at the provider with plain http.Clients, then through one sluice
// proxy (with the provider's limit configured, then learning it), and
// reports as the demo does, per worker too.
func demoProxy(ctx context.Context, o demoOptions, stdout, stderr io.Writer) int {
	fail := func(err error) int { fmt.Fprintln(stderr, "sluice demo -proxy:", err); return 1 }
	sc, cfg, err := o.setup()
	if err != nil {
		fmt.Fprintln(stderr, "sluice demo:", err)
		return 2
	}
	exe, err := os.Executable() // this binary: it has the demo-worker subcommand
	if err != nil {
		return fail(fmt.Errorf("finding this program to start its workers: %w", err))
	}
	d := &proxyDemo{o: o, sc: sc, exe: exe, stderr: stderr}
	for range o.workers {
		d.tokens = append(d.tokens, newToken())
	}
	d.srv = newDemoServer(sc)
	defer d.srv.Close()
	stop, err := d.serve(cfg)
	if err != nil {
		return fail(err)
	}
	defer stop()

	fmt.Fprint(stdout, sc.describe())
	fmt.Fprintf(stdout, "provider on %s\n", d.srv.URL)
	fmt.Fprintf(stdout, "proxy on %s/demo (in this process), status page %s/status\n", d.proxyURL, d.adminURL)
	fmt.Fprintf(stdout, "%d worker processes (this program run as `sluice demo-worker`), %d goroutines in all; each worker is a consumer with its own token\n",
		o.workers, o.concurrency)
	runs, err := d.runAll(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	results := make([]result, len(runs))
	for i, r := range runs {
		results[i] = r.result
	}
	if err := d.print(stdout, runs, results); err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return 130
	}
	bad := verdict(results, sc)
	for i, b := range bad {
		if i == 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintln(stdout, "FAIL:", b)
	}
	fmt.Fprintf(stdout, "\nstatus page: %s/status (metrics: %s/metrics)\n", d.adminURL, d.adminURL)
	d.hold(ctx, stdout)
	if len(bad) > 0 {
		return 1
	}
	return 0
}

// serve starts the proxy, with cfg as its pipeline, and its admin
// listener on loopback ports; stop shuts both down.
func (d *proxyDemo) serve(cfg sluice.Config) (stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, err
	}
	d.self = ln.Addr()
	d.proxyURL, d.adminURL = "http://"+ln.Addr().String(), "http://"+aln.Addr().String()
	h, err := d.handler(cfg)
	if err != nil {
		ln.Close()
		aln.Close()
		return nil, err
	}
	d.live.cur.Store(h)
	srv := h.Server()
	srv.Handler = &d.live
	admin := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.live.cur.Load().Admin().ServeHTTP(w, r)
	})}
	var serving sync.WaitGroup
	serving.Go(func() { _ = srv.Serve(ln) })
	serving.Go(func() { _ = admin.Serve(aln) })
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = admin.Shutdown(sctx)
		serving.Wait()
		d.live.cur.Load().Close()
	}, nil
}

// runAll runs the job three times: plain, through the proxy serve started
// (the rate set), and through a fresh proxy without limits (learning
// them). An interrupt ends it early with the runs done so far.
func (d *proxyDemo) runAll(ctx context.Context, cfg sluice.Config) ([]proxyRun, error) {
	plain, err := d.runWorkers(ctx, "plain http.Client", d.srv.URL, false)
	if err != nil {
		return nil, err
	}
	runs := []proxyRun{plain}
	for i, step := range []struct {
		name string
		cfg  sluice.Config
	}{{"proxy (rate set)", cfg}, {"proxy (learns it)", withoutLimits(cfg)}} {
		if ctx.Err() != nil {
			break
		}
		if i > 0 { // a fresh proxy: nothing learned, nothing cached
			nh, err := d.handler(step.cfg)
			if err != nil {
				return nil, err
			}
			d.live.cur.Swap(nh).Close()
		}
		r, err := d.runWorkers(ctx, step.name, d.proxyURL+"/demo", true)
		if err != nil {
			return nil, err
		}
		for _, rs := range d.live.cur.Load().Transport().Stats().Routes {
			r.retries += rs.Retries
			r.cacheHits += rs.CacheHits + rs.Coalesced
			r.waited += rs.Waited
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// print writes the demo's report for the runs: headlines, the table, the
// workers' rows, the timelines and, with -report, the HTML file.
func (d *proxyDemo) print(stdout io.Writer, runs []proxyRun, results []result) error {
	fmt.Fprintln(stdout)
	for _, r := range results {
		fmt.Fprintln(stdout, headline(r, d.sc))
	}
	fmt.Fprintln(stdout)
	printTable(stdout, results, d.sc)
	fmt.Fprintln(stdout)
	printWorkers(stdout, runs)
	if st, ok := d.o.chartStyle(stdout); ok {
		printCharts(stdout, results, d.sc, st)
	}
	if d.o.report == "" {
		return nil
	}
	text, err := configText(d.o, d.sc)
	if err == nil {
		err = writeReportFile(d.o.report, d.sc, text, results, workerTables(runs))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nreport written to %s\n", d.o.report)
	return nil
}

// hold keeps the proxy and its status page up as -hold asks.
func (d *proxyDemo) hold(ctx context.Context, stdout io.Writer) {
	if !d.o.hold.forever && d.o.hold.d == 0 {
		return
	}
	fmt.Fprintf(stdout, "try it: curl -H 'Authorization: Bearer %s' %s/demo/items/1\n", d.tokens[0], d.proxyURL)
	fmt.Fprintf(stdout, "(a throwaway token for consumer worker-1; the proxy stays up %s)\n", d.o.hold.String())
	if d.o.hold.forever {
		<-ctx.Done()
		return
	}
	t := time.NewTimer(d.o.hold.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// handler builds a proxy in front of the demo's provider with cfg as its
// pipeline; worker k's consumer is "worker-k" with the k-th token.
func (d *proxyDemo) handler(cfg sluice.Config) (*proxy.Handler, error) {
	wait := d.timeout() - 30*time.Second
	pc := proxy.Config{
		Upstreams:   []proxy.Upstream{{Name: "demo", Prefix: "/demo", Target: d.srv.URL, Allow: []string{"loopback"}}},
		DefaultWait: wait,
		MaxWait:     wait,
		Pipeline:    cfg,
		Getenv: func(k string) string {
			n, _ := strings.CutPrefix(k, tokenEnv+"_")
			if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= len(d.tokens) {
				return d.tokens[i-1]
			}
			return ""
		},
	}
	for i := range d.tokens {
		pc.Consumers = append(pc.Consumers, proxy.Consumer{Name: fmt.Sprintf("worker-%d", i+1), TokenEnv: fmt.Sprintf("%s_%d", tokenEnv, i+1)})
	}
	if ap, err := netip.ParseAddrPort(d.self.String()); err == nil {
		pc.Self = []netip.AddrPort{ap}
	}
	return proxy.New(pc)
}

// newToken is a random 128-bit consumer token.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// timeout bounds a worker's run: the longest a request may queue at the
// proxy, and then some.
func (d *proxyDemo) timeout() time.Duration {
	return max(30*time.Second, 3*d.sc.least) + 30*time.Second
}

// workerArgs are the demo flags a worker needs to rebuild the job.
func (o demoOptions) workerArgs() []string {
	return []string{
		"-scenario", o.scenario, "-requests", strconv.Itoa(o.requests), "-concurrency", strconv.Itoa(o.concurrency),
		"-popular", strconv.FormatFloat(o.popular, 'g', -1, 64), "-rate", strconv.FormatFloat(o.rate, 'g', -1, 64),
		"-burst", strconv.Itoa(o.burst), "-dialect", o.dialect, "-limit", o.kind,
	}
}

// worker is one started worker process.
type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	errBuf *capped
}

// runWorkers starts the workers, waits until each is ready, resets the
// provider, starts them all at once and collects their reports.
func (d *proxyDemo) runWorkers(ctx context.Context, name, url string, viaProxy bool) (proxyRun, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws := make([]*worker, 0, d.o.workers)
	defer func() {
		for _, w := range ws { // closing stdin ends a worker; Wait reaps it
			w.stdin.Close()
			_ = w.cmd.Wait()
		}
	}()
	for k := range d.o.workers {
		args := []string{"demo-worker", "-url", url, "-worker", strconv.Itoa(k), "-workers", strconv.Itoa(d.o.workers),
			"-timeout", d.timeout().String()}
		if viaProxy {
			args = append(args, "-via-proxy")
		}
		cmd := exec.CommandContext(ctx, d.exe, append(append(args, "--"), d.o.workerArgs()...)...)
		cmd.Env = append(os.Environ(), tokenEnv+"="+d.tokens[k])
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 3 * time.Second
		w := &worker{cmd: cmd, errBuf: &capped{max: 4 << 10}}
		cmd.Stderr = w.errBuf
		var err error
		if w.stdin, err = cmd.StdinPipe(); err != nil {
			return proxyRun{}, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return proxyRun{}, err
		}
		w.out = bufio.NewReader(stdout)
		if err := cmd.Start(); err != nil {
			return proxyRun{}, fmt.Errorf("starting worker %d: %w", k+1, err)
		}
		ws = append(ws, w)
	}
	slow := time.AfterFunc(30*time.Second, cancel) // a worker that never gets ready is killed
	for k, w := range ws {
		if line, err := w.out.ReadString('\n'); err != nil || line != "ready\n" {
			return proxyRun{}, fmt.Errorf("worker %d did not start: %q %v; its stderr: %s", k+1, line, err, w.errBuf)
		}
	}
	slow.Stop()
	d.srv.Reset()
	var done atomic.Int64
	start := time.Now()
	stop := startProgress(d.o.progressTo(d.stderr), name, d.sc.job.requests, &done, d.srv, start)
	for _, w := range ws {
		io.WriteString(w.stdin, "go\n")
	}
	reps := make([]workerReport, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for k, w := range ws {
		wg.Go(func() { reps[k], errs[k] = w.read(&done) })
	}
	wg.Wait()
	stop()
	run := proxyRun{result: result{name: name, wall: time.Since(start)}, viaProxy: viaProxy}
	for k, err := range errs {
		if err != nil {
			return proxyRun{}, fmt.Errorf("worker %d: %w; its stderr: %s", k+1, err, ws[k].errBuf)
		}
	}
	st := d.srv.Stats()
	run.throttles, run.accepted, run.dups = int64(st.Rejected), int64(st.Accepted), int64(st.Duplicates)
	run.events = d.srv.tl.snapshot()
	for _, rep := range reps {
		run.ok += rep.OK
		run.failures += rep.Failures
		run.workers = append(run.workers, workerRow{rep: rep, provider: d.srv.tl.byWorker(strconv.Itoa(rep.Worker))})
	}
	return run, nil
}

// read counts the worker's progress dots into done, then decodes its
// report.
func (w *worker) read(done *atomic.Int64) (workerReport, error) {
	for {
		b, err := w.out.ReadByte()
		if err != nil {
			return workerReport{}, fmt.Errorf("no report: %w", err)
		}
		if b == '\n' {
			break
		}
		done.Add(1)
	}
	var rep workerReport
	line, err := w.out.ReadBytes('\n')
	if err != nil {
		return rep, fmt.Errorf("no report: %w", err)
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		return rep, fmt.Errorf("bad report %q: %w", line, err)
	}
	return rep, nil
}

// printWorkers prints each worker's share of each run: what it got done,
// in how long, and the 429s the provider answered its requests with.
func printWorkers(out io.Writer, runs []proxyRun) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintf(out, "%-30s", "per worker, 429s at provider")
	for _, r := range runs {
		fmt.Fprintf(out, "%26s", r.name)
	}
	fmt.Fprintln(out)
	for k := range runs[0].workers {
		w0 := runs[0].workers[k].rep
		fmt.Fprintf(out, "%-30s", fmt.Sprintf("worker %d (%d requests)", w0.Worker, w0.Requests))
		for _, r := range runs {
			if k >= len(r.workers) {
				fmt.Fprintf(out, "%26s", "-")
				continue
			}
			w := r.workers[k]
			cell := fmt.Sprintf("%d done, %s, %d 429s", w.rep.OK, fmtDur(w.rep.Wall), w.provider[throttled])
			fmt.Fprintf(out, "%26s", cell)
		}
		fmt.Fprintln(out)
	}
}

// capped is an io.Writer keeping the first max bytes written to it.
type capped struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer // guarded by mu
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.b.Len() == 0 {
		return "(empty)"
	}
	return c.b.String()
}
