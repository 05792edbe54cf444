package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The hidden `sluice demo-worker` subcommand is one OS process of
// `sluice demo -proxy`: the parent starts several, each sending its share
// of the demo's job to -url (the provider, or the proxy with the consumer
// token in $SLUICE_DEMO_TOKEN). The protocol on its standard streams:
//
//	worker -> parent  "ready\n" once set up
//	parent -> worker  "go\n" to start (EOF before it: exit 1, nothing sent)
//	worker -> parent  one "." per request done, then "\n" and a workerReport
//	                  as one JSON line
//
// The parent closing stdin (or dying) after "go" cancels the run; so does
// -timeout. The worker never outlives its parent for long.

// tokenEnv is the environment variable that carries a worker's proxy token
// (not a flag: arguments are visible to every user of the machine).
const tokenEnv = "SLUICE_DEMO_TOKEN"

// workerReport is what a worker did, as it saw it.
type workerReport struct {
	Worker   int           `json:"worker"`
	PID      int           `json:"pid"`
	Requests int           `json:"requests"` // its share of the job
	OK       int64         `json:"ok"`       // 2xx answers
	Failures int64         `json:"failures"` // errors and other answers
	Got429   int64         `json:"got_429"`  // 429s it received (from the provider, or the proxy)
	Wall     time.Duration `json:"wall_ns"`
	// P50 and P99 are its requests' latencies, from sending to the answer
	// read (through the proxy, mostly the wait for their turn); 0 when
	// none was answered.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
}

// workerFlags are the worker's own flags; the demo's flags follow "--".
type workerFlags struct {
	url      string
	index    int
	workers  int
	viaProxy bool
	timeout  time.Duration
	demo     demoOptions
}

func parseWorkerFlags(args []string) (workerFlags, error) {
	var f workerFlags
	fs := flag.NewFlagSet("sluice demo-worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.url, "url", "", "base URL to send the job to")
	fs.IntVar(&f.index, "worker", 0, "this worker's index, from 0")
	fs.IntVar(&f.workers, "workers", 1, "how many workers share the job")
	fs.BoolVar(&f.viaProxy, "via-proxy", false, "the URL is a sluice proxy: send the token from $"+tokenEnv)
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	switch {
	case f.url == "":
		return f, errors.New("-url is required")
	case f.workers < 1 || f.index < 0 || f.index >= f.workers:
		return f, fmt.Errorf("-worker %d of -workers %d: want 0 <= worker < workers", f.index, f.workers)
	case f.timeout <= 0:
		return f, fmt.Errorf("-timeout %v: want a positive duration", f.timeout)
	}
	d, err := parseDemoFlags(fs.Args(), io.Discard)
	if err != nil {
		return f, fmt.Errorf("demo flags: %w", err)
	}
	if d.concurrency < f.workers {
		return f, fmt.Errorf("-concurrency %d is less than -workers %d", d.concurrency, f.workers)
	}
	f.demo = d
	return f, nil
}

// demoWorker runs `sluice demo-worker`.
func demoWorker(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, err := parseWorkerFlags(args)
	if err != nil {
		fmt.Fprintln(stderr, "sluice demo-worker:", err)
		return 2
	}
	sc, err := newScenario(f.demo.scenario, f.demo)
	if err != nil {
		fmt.Fprintln(stderr, "sluice demo-worker:", err)
		return 2
	}
	w := workload{url: f.url, job: sc.job, viaProxy: f.viaProxy, header: http.Header{workerHeader: {strconv.Itoa(f.index + 1)}}}
	if f.viaProxy {
		tok := os.Getenv(tokenEnv)
		if tok == "" {
			fmt.Fprintf(stderr, "sluice demo-worker: $%s is empty\n", tokenEnv)
			return 2
		}
		w.header.Set("Authorization", "Bearer "+tok)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	out := bufio.NewWriter(stdout)
	fmt.Fprintln(out, "ready")
	if err := out.Flush(); err != nil {
		return 1
	}
	in := bufio.NewReader(stdin)
	if line, err := in.ReadString('\n'); err != nil || line != "go\n" {
		return 1 // the parent went away or changed its mind
	}
	closed := make(chan struct{})
	go func() { // stdin closing cancels the run
		defer close(closed)
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()
	rep := w.share(ctx, f.index, f.workers, f.demo, out)
	rep.PID = os.Getpid()
	if err := json.NewEncoder(out).Encode(rep); err != nil {
		return 1
	}
	if err := out.Flush(); err != nil {
		return 1
	}
	// The parent closes stdin once it has the report; wait for that, or
	// for the run's end (-timeout, an interrupt).
	select {
	case <-closed:
	case <-ctx.Done():
	}
	return 0
}

// share runs worker index's share of the job: requests i with
// i % workers == index, from its share of the goroutines. It writes a "."
// to progress per request done, then a newline.
func (w workload) share(ctx context.Context, index, workers int, o demoOptions, progress *bufio.Writer) workerReport {
	conc := o.concurrency / workers
	if index < o.concurrency%workers {
		conc++
	}
	var mine []int
	for i := index; i < w.requests; i += workers {
		mine = append(mine, i)
	}
	rep := workerReport{Worker: index + 1, Requests: len(mine)}
	tr := o.baseTransport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	if !w.viaProxy {
		c.Timeout = 10 * time.Second // as the demo's plain client
	}
	var next atomic.Int64
	lat := make([]time.Duration, len(mine)) // by k; -1: not answered
	for k := range lat {
		lat[k] = -1
	}
	var mu sync.Mutex // guards progress
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(mine) || ctx.Err() != nil {
					return
				}
				sent := time.Now()
				status := w.send(ctx, c, mine[k])
				if status != 0 { // 0: no answer
					lat[k] = time.Since(sent)
				}
				switch {
				case status/100 == 2:
					atomic.AddInt64(&rep.OK, 1)
				case status == http.StatusTooManyRequests:
					atomic.AddInt64(&rep.Got429, 1)
					atomic.AddInt64(&rep.Failures, 1)
				default:
					atomic.AddInt64(&rep.Failures, 1)
				}
				mu.Lock()
				progress.WriteByte('.')
				progress.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	rep.Wall = time.Since(start)
	rep.Failures += int64(len(mine)) - rep.OK - rep.Failures // not sent: canceled
	rep.P50, rep.P99 = percentiles(lat)
	progress.WriteByte('\n')
	return rep
}

// percentiles returns the 50th and 99th percentiles (nearest rank) of the
// latencies of answered requests (negative ones are not), sorting ds.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(ds)
	i, _ := slices.BinarySearch(ds, 0)
	ds = ds[i:]
	if len(ds) == 0 {
		return 0, 0
	}
	rank := func(q float64) time.Duration { return ds[max(0, int(math.Ceil(q*float64(len(ds))))-1)] }
	return rank(0.50), rank(0.99)
}
