package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Bounds on the flags, so that a typo cannot start a run of hours.
const (
	maxRequests    = 100_000
	maxConcurrency = 1024
	maxTimeout     = time.Hour
)

// config is what one benchmark run does.
type config struct {
	// requests is the number of GET requests of the job.
	requests int
	// concurrency is the number of workers sending them.
	concurrency int
	// timeout bounds the job of one client against one dialect.
	timeout time.Duration
	// latency delays every response of the provider.
	latency time.Duration
	// dialects are the providers to run against, in order.
	dialects []dialectSpec
	// clients are the clients to run, in order.
	clients []clientSpec
}

// parseFlags parses the command line into a config. Help goes to out;
// every bad value is reported with its flag and value.
func parseFlags(args []string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("goodput", flag.ContinueOnError)
	fs.SetOutput(out)
	requests := fs.Int("requests", 600, "GET requests per job (1.."+fmt.Sprint(maxRequests)+")")
	concurrency := fs.Int("concurrency", 16, "workers sending the job's requests (1.."+fmt.Sprint(maxConcurrency)+")")
	timeout := fs.Duration("timeout", 90*time.Second, "bound on one client's job; unfinished requests count as failures")
	latency := fs.Duration("latency", 0, "delay the provider adds to every response (0..10s)")
	dialects := fs.String("dialects", strings.Join(defaultDialects, ","), "comma-separated provider dialects")
	clients := fs.String("clients", strings.Join(clientNames(), ","), "comma-separated clients")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q: all options are flags", fs.Arg(0))
	}
	cfg := config{requests: *requests, concurrency: *concurrency, timeout: *timeout, latency: *latency}
	if cfg.latency < 0 || cfg.latency > 10*time.Second {
		return config{}, fmt.Errorf("-latency %v: want 0..10s", cfg.latency)
	}
	if cfg.requests < 1 || cfg.requests > maxRequests {
		return config{}, fmt.Errorf("-requests %d: want 1..%d", cfg.requests, maxRequests)
	}
	if cfg.concurrency < 1 || cfg.concurrency > maxConcurrency {
		return config{}, fmt.Errorf("-concurrency %d: want 1..%d", cfg.concurrency, maxConcurrency)
	}
	if cfg.timeout <= 0 || cfg.timeout > maxTimeout {
		return config{}, fmt.Errorf("-timeout %v: want more than 0 and at most %v", cfg.timeout, maxTimeout)
	}
	names, err := splitList("-dialects", *dialects)
	if err != nil {
		return config{}, err
	}
	for _, name := range names {
		d, err := dialectFor(name)
		if err != nil {
			return config{}, fmt.Errorf("-dialects: %w", err)
		}
		cfg.dialects = append(cfg.dialects, d)
	}
	names, err = splitList("-clients", *clients)
	if err != nil {
		return config{}, err
	}
	for _, name := range names {
		c, err := clientFor(name)
		if err != nil {
			return config{}, fmt.Errorf("-clients: %w", err)
		}
		cfg.clients = append(cfg.clients, c)
	}
	return cfg, nil
}

// splitList splits a comma-separated flag value, refusing empty items and
// duplicates.
func splitList(flagName, value string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for item := range strings.SplitSeq(value, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == "" {
			return nil, fmt.Errorf("%s %q: empty item", flagName, value)
		}
		if seen[item] {
			return nil, fmt.Errorf("%s %q: %q given twice", flagName, value, item)
		}
		seen[item] = true
		out = append(out, item)
	}
	return out, nil
}
