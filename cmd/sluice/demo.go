package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
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
}

func parseDemoFlags(args []string, stderr io.Writer) (demoOptions, error) {
	var o demoOptions
	fs := flag.NewFlagSet("sluice demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dialect, "dialect", "ietf", "how the provider reports its limit: "+dialectNames())
	fs.StringVar(&o.kind, "limit", "token-bucket", "the provider's hidden limit: token-bucket, fixed-window or leaky-bucket")
	fs.Float64Var(&o.rate, "rate", 50, "the provider's rate, requests per second")
	fs.IntVar(&o.burst, "burst", 10, "the provider's burst (bucket capacity; ignored for fixed-window, whose window holds rate requests)")
	fs.IntVar(&o.requests, "requests", 500, "requests in the workload")
	fs.IntVar(&o.concurrency, "concurrency", 32, "goroutines sending the workload")
	fs.Float64Var(&o.popular, "popular", 0.2, "share of requests that fetch the same popular resource (served from sluice's cache)")
	fs.StringVar(&o.config, "config", "", "a sluice YAML config to use instead of the embedded one (its rate limits are kept)")
	fs.BoolVar(&o.progress, "progress", true, "show a live progress line")
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

// demo runs the workload through a plain client and through sluice.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseDemoFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sluice demo:", err)
		return 2
	}
	dialect, err := sluicetest.ParseDialect(o.dialect)
	if err != nil {
		fmt.Fprintln(stderr, "sluice demo: -dialect:", err)
		return 2
	}
	plim, slim, burst, err := o.providerLimit()
	if err != nil {
		fmt.Fprintln(stderr, "sluice demo:", err)
		return 2
	}
	cfg, err := o.sluiceConfig(slim)
	if err != nil {
		fmt.Fprintln(stderr, "sluice demo:", err)
		return 2
	}
	srv := sluicetest.NewServer(sluicetest.Options{Limit: plim, Dialect: dialect})
	defer srv.Close()
	fmt.Fprintf(stdout, "provider: %s, reported as %s, on %s\n", plim, dialect, srv.URL)
	fmt.Fprintf(stdout, "workload: %d GETs from %d goroutines, %.0f%% of them for one popular resource\n\n",
		o.requests, o.concurrency, o.popular*100)

	w := workload{url: srv.URL, n: o.requests, workers: o.concurrency, popular: o.popular}
	var results []result

	plain := &http.Client{Transport: o.baseTransport(), Timeout: 10 * time.Second}
	results = append(results, w.run(ctx, "plain http.Client", plain, srv, o.progressTo(stderr)))
	plain.CloseIdleConnections()
	srv.Reset()

	for _, run := range []struct {
		name string
		cfg  sluice.Config
	}{
		{"sluice (rate set)", cfg},
		{"sluice (learns it)", withoutLimits(cfg)},
	} {
		srv.Reset()
		r, err := w.runSluice(ctx, run.name, run.cfg, o, srv, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "sluice demo:", err)
			return 1
		}
		results = append(results, r)
	}

	report(stdout, results, o.rate, burst)
	if ctx.Err() != nil {
		return 130
	}
	for _, r := range results[1:] {
		if r.failures > 0 {
			return 1
		}
	}
	return 0
}

// runSluice runs the workload through a sluice Transport built from cfg.
func (w workload) runSluice(ctx context.Context, name string, cfg sluice.Config, o demoOptions, srv *sluicetest.Server, stderr io.Writer) (result, error) {
	base := o.baseTransport()
	defer base.CloseIdleConnections()
	tr, err := sluice.NewTransport(cfg, base)
	if err != nil {
		return result{}, err
	}
	defer tr.Close()
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

// sluiceConfig is the embedded config (or -config) with the demo route's
// limit set to the provider's true limit.
func (o demoOptions) sluiceConfig(l sluice.LimitConfig) (sluice.Config, error) {
	data := demoConfig
	if o.config != "" {
		return sluice.LoadConfig(o.config)
	}
	cfg, err := sluice.ParseConfig(data)
	if err != nil {
		return cfg, err
	}
	for i := range cfg.Routes {
		if cfg.Routes[i].Name == "demo" {
			cfg.Routes[i].Limits = []sluice.LimitConfig{l}
		}
	}
	return cfg, cfg.Validate()
}

// baseTransport is an http.Transport that keeps a connection per worker.
func (o demoOptions) baseTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = o.concurrency
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
