package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

//go:embed demo.yaml
var demoConfig []byte

// demoOptions are the demo's flags.
type demoOptions struct {
	dialect     string
	kind        string
	rate        float64
	burst       int
	requests    int
	concurrency int
	popular     float64
	config      string
	progress    bool
	scenario    string
	report      string   // -report: an HTML report to write
	chart       string   // -chart: auto, color, plain or off
	proxy       bool     // -proxy: run the job from worker processes through a sluice proxy
	workers     int      // -workers: worker processes with -proxy
	hold        holdFlag // -hold: keep the proxy's status page up after the report
}

func parseDemoFlags(args []string, stderr io.Writer) (demoOptions, error) {
	var o demoOptions
	fs := flag.NewFlagSet("sluice demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dialect, "dialect", "ietf", "how the provider reports its limit: "+dialectNames())
	fs.StringVar(&o.kind, "limit", "token-bucket", "the provider's hidden limit: token-bucket, fixed-window or leaky-bucket")
	fs.Float64Var(&o.rate, "rate", 50, "the provider's rate, requests per second")
	fs.IntVar(&o.burst, "burst", 10, "the provider's burst (bucket capacity; ignored for fixed-window, whose window holds rate requests)")
	fs.IntVar(&o.requests, "requests", 300, "requests in the workload (github-hourly takes at most 1000, llm-tokens 150, flaky 300)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "goroutines sending the workload")
	fs.Float64Var(&o.popular, "popular", 0.2, "share of requests that fetch the same popular resource (served from sluice's cache)")
	fs.StringVar(&o.config, "config", "", "a sluice YAML config to use instead of the embedded one (its rate limits are kept)")
	fs.BoolVar(&o.progress, "progress", true, "show a live progress line")
	fs.StringVar(&o.scenario, "scenario", "bucket", "the situation to run: "+scenarioNames()+" (-dialect, -limit, -rate and -burst shape bucket)")
	fs.StringVar(&o.report, "report", "", "also write a self-contained HTML report to this file")
	fs.StringVar(&o.chart, "chart", "auto", "timeline charts: auto (colour on a terminal), color, plain or off")
	fs.BoolVar(&o.proxy, "proxy", false, "send the job from -workers OS processes, first straight to the provider, then through one sluice proxy")
	fs.IntVar(&o.workers, "workers", 4, "worker processes with -proxy (the -concurrency goroutines are split among them)")
	fs.Var(&o.hold, "hold", "with -proxy: keep the proxy and its status page up after the report, until Ctrl-C (-hold) or for a while (-hold=30s)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.rate <= 0 || o.rate > 10000:
		return o, fmt.Errorf("-rate %g: want a rate in (0, 10000] requests per second", o.rate)
	case o.burst < 1 || o.burst > 10000:
		return o, fmt.Errorf("-burst %d: want 1 to 10000", o.burst)
	case o.requests < 1 || o.requests > 100000:
		return o, fmt.Errorf("-requests %d: want 1 to 100000", o.requests)
	case o.concurrency < 1 || o.concurrency > 1000:
		return o, fmt.Errorf("-concurrency %d: want 1 to 1000", o.concurrency)
	case o.popular < 0 || o.popular > 1:
		return o, fmt.Errorf("-popular %g: want a share in [0, 1]", o.popular)
	case o.chart != "auto" && o.chart != "color" && o.chart != "plain" && o.chart != "off":
		return o, fmt.Errorf("-chart %q: want auto, color, plain or off", o.chart)
	case o.workers < 1 || o.workers > 64:
		return o, fmt.Errorf("-workers %d: want 1 to 64", o.workers)
	case o.proxy && o.concurrency < o.workers:
		return o, fmt.Errorf("-concurrency %d is less than -workers %d: each worker needs a goroutine", o.concurrency, o.workers)
	case !o.proxy && (o.hold.forever || o.hold.d > 0):
		return o, fmt.Errorf("-hold keeps the proxy's status page up: use it with -proxy")
	}
	return o, nil
}

func dialectNames() string {
	var names []string
	for _, d := range sluicetest.Dialects() {
		names = append(names, d.String())
	}
	return strings.Join(names, ", ")
}

// providerLimit returns the provider's hidden limit, the matching sluice
// limit (the provider's true limit) and the burst the provider allows.
func (o demoOptions) providerLimit() (sluicetest.Limit, sluice.LimitConfig, float64, error) {
	rate := fmt.Sprintf("%g/s", o.rate)
	switch o.kind {
	case "token-bucket":
		return sluicetest.TokenBucket(o.rate, o.burst), sluice.LimitConfig{Rate: rate, Burst: int64(o.burst)}, float64(o.burst), nil
	case "fixed-window":
		n := max(1, int(o.rate))
		return sluicetest.FixedWindow(n, time.Second), sluice.LimitConfig{Rate: fmt.Sprintf("%d/s", n), Strict: true}, float64(n), nil
	case "leaky-bucket":
		return sluicetest.LeakyBucket(o.burst, o.rate), sluice.LimitConfig{Rate: rate, Burst: int64(o.burst)}, float64(o.burst), nil
	}
	return sluicetest.Limit{}, sluice.LimitConfig{}, 0, fmt.Errorf("-limit %q: want token-bucket, fixed-window or leaky-bucket", o.kind)
}

// demo runs the scenario's job through a plain client and through sluice,
// twice: with the provider's limit configured, and learning it from the
// provider's answers. It exits 1 if sluice lost work, caused a 429 where it
// should not, or had a request performed twice.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseDemoFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sluice demo:", err)
		return 2
	}
	if o.proxy {
		return demoProxy(ctx, o, stdout, stderr)
	}
	sc, cfg, err := o.setup()
	if err != nil {
		fmt.Fprintln(stderr, "sluice demo:", err)
		return 2
	}
	srv := newDemoServer(sc)
	defer srv.Close()
	fmt.Fprint(stdout, sc.describe())
	fmt.Fprintf(stdout, "provider on %s\n\n", srv.URL)

	w := workload{url: srv.URL, job: sc.job}
	plain := &http.Client{Transport: o.baseTransport(), Timeout: 10 * time.Second}
	results := []result{w.run(ctx, "plain http.Client", plain, srv, o.progressTo(stderr))}
	plain.CloseIdleConnections()

	runs := []struct {
		name string
		cfg  sluice.Config
	}{
		{"sluice (rate set)", cfg},
		{"sluice (learns it)", withoutLimits(cfg)},
	}
	for _, run := range runs {
		if ctx.Err() != nil {
			break
		}
		srv.Reset()
		r, err := w.runSluice(ctx, run.name, run.cfg, o, srv, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "sluice demo:", err)
			return 1
		}
		results = append(results, r)
	}

	fmt.Fprintln(stdout)
	for _, r := range results {
		fmt.Fprintln(stdout, headline(r, sc))
	}
	fmt.Fprintln(stdout)
	printTable(stdout, results, sc)
	if st, ok := o.chartStyle(stdout); ok {
		printCharts(stdout, results, sc, st)
	}
	if o.report != "" {
		text, err := configText(o, sc)
		if err == nil {
			err = writeReportFile(o.report, sc, text, results, nil)
		}
		if err != nil {
			fmt.Fprintln(stderr, "sluice demo:", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nreport written to %s\n", o.report)
	}
	if ctx.Err() != nil {
		return 130
	}
	if bad := verdict(results, sc); len(bad) > 0 {
		fmt.Fprintln(stdout)
		for _, b := range bad {
			fmt.Fprintln(stdout, "FAIL:", b)
		}
		return 1
	}
	return 0
}

// chartStyle is the style -chart asks for on out; false draws no chart.
func (o demoOptions) chartStyle(out io.Writer) (chartStyle, bool) {
	st := plainChart
	switch o.chart {
	case "off":
		return st, false
	case "color":
		st.color = true
	case "auto":
		st.color = isTerminal(out) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	}
	return st, true
}

// demoServer is the scenario's provider on a loopback port, with a
// timeline recording every answer it gives.
type demoServer struct {
	URL string
	p   *sluicetest.Provider
	tl  *timeline
	ts  *httptest.Server
}

func newDemoServer(sc scenario) *demoServer {
	p := sluicetest.NewProvider(sc.provider)
	tl := newTimeline(p, sc.throttle, 1_000_000)
	ts := httptest.NewServer(tl)
	return &demoServer{URL: ts.URL, p: p, tl: tl, ts: ts}
}

// Stats returns the provider's counters.
func (s *demoServer) Stats() sluicetest.Stats { return s.p.Stats() }

// Reset gives the provider a fresh limit and the timeline a fresh start.
func (s *demoServer) Reset() {
	s.p.Reset()
	s.tl.restart()
}

// Close stops the server.
func (s *demoServer) Close() {
	s.p.Close()
	s.ts.Close()
}

// runSluice runs the workload through a sluice Transport built from cfg.
func (w workload) runSluice(ctx context.Context, name string, cfg sluice.Config, o demoOptions, srv *demoServer, stderr io.Writer) (result, error) {
	base := o.baseTransport()
	defer base.CloseIdleConnections()
	tr, err := sluice.NewTransport(cfg, base)
	if err != nil {
		return result{}, err
	}
	defer tr.Close()
	w.viaSluice = true
	r := w.run(ctx, name, &http.Client{Transport: tr}, srv, o.progressTo(stderr))
	for _, rs := range tr.Stats().Routes {
		r.retries += rs.Retries
		r.cacheHits += rs.CacheHits + rs.Coalesced
		r.waited += rs.Waited
	}
	return r, nil
}

// withoutLimits returns cfg with every configured rate limit removed, so
// that sluice has only the provider's headers (or bare 429s) to go by.
func withoutLimits(cfg sluice.Config) sluice.Config {
	cfg.Routes = append([]sluice.Route(nil), cfg.Routes...)
	cfg.Defaults.Limits = nil
	for i := range cfg.Routes {
		cfg.Routes[i].Limits = nil
	}
	return cfg
}

// setup builds the scenario o names and the sluice Config its runs use.
func (o demoOptions) setup() (scenario, sluice.Config, error) {
	sc, err := newScenario(o.scenario, o)
	if err != nil {
		return scenario{}, sluice.Config{}, err
	}
	cfg, err := o.sluiceConfig(sc)
	return sc, cfg, err
}

// sluiceConfig is the embedded config (or -config) with the demo route's
// limits set to the scenario's: the provider's true limit.
func (o demoOptions) sluiceConfig(sc scenario) (sluice.Config, error) {
	if o.config != "" {
		return sluice.LoadConfig(o.config)
	}
	cfg, err := sluice.ParseConfig(demoConfig)
	if err != nil {
		return cfg, err
	}
	for i := range cfg.Routes {
		if cfg.Routes[i].Name == "demo" {
			cfg.Routes[i].Limits = sc.limits
			if sc.tune != nil {
				sc.tune(&cfg.Routes[i])
			}
		}
	}
	return cfg, cfg.Validate()
}

// baseTransport is an http.Transport that keeps a connection per worker.
func (o demoOptions) baseTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = o.concurrency
	t.MaxIdleConns = max(t.MaxIdleConns, o.concurrency)
	return t
}

func (o demoOptions) progressTo(stderr io.Writer) io.Writer {
	if !o.progress {
		return nil
	}
	return stderr
}

// isTerminal reports whether w is a character device, where a progress line
// can be redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
