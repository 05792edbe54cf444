package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// row is the outcome of one client against one dialect.
type row struct {
	// dialect is the provider the job ran against.
	dialect dialectSpec
	// client is the client's name.
	client string
	// requests is the job's size.
	requests int
	// wall is the job's wall time, at most about the timeout.
	wall time.Duration
	// throttles is the number of throttle responses the provider sent.
	throttles int
	// maxPerSecond is the most requests the provider accepted within any
	// one second: at most burst+rate (60) for the token and leaky buckets,
	// 2x50 across a fixed window's boundary.
	maxPerSecond int
	// failures counts requests that ended in an error, a non-2xx status,
	// or did not finish in time.
	failures int
	// p99 is the 99th percentile of the requests' latencies (from the
	// worker's call to its answer, waits and retries included).
	p99 time.Duration
	// windowOffset is how far into the provider's fixed window (github's
	// 1 s, aligned to the epoch) the job started; zero for the buckets.
	windowOffset time.Duration
}

// goodput returns the ideal time of the requests answered with a 2xx, at the
// true rate, divided by the wall time. With no failures it is the job's ideal
// time over its wall time; failed requests add nothing, so a client cannot
// score by failing fast.
func (r row) goodput() float64 {
	if r.wall <= 0 {
		return 0
	}
	return r.ideal().Seconds() / r.wall.Seconds()
}

// ideal returns the least time the limit permits for r's 2xx answers.
func (r row) ideal() time.Duration {
	return idealTime(r.requests-r.failures, r.dialect.name == "github", r.windowOffset)
}

// idealTime is the least time the provider's limit permits for n requests:
// the burst at once and the rest at the rate (a token or leaky bucket of
// trueBurst at trueRate), or, for a fixed window of trueRate per second, a
// window's worth at once in each window: the first (a fresh count) at the
// start, the others at their boundaries, the last starting ceil(n/trueRate)-1
// seconds after the first window's start, which is offset before the job's
// start. With few requests (at most the burst, or one window) it is one
// request interval, so that goodput stays finite.
//
// The bound used to leave the offset out (ceil(n/trueRate)-1 s from the
// job's start): a job starting 0.6 s into a window then needed only 2.4 s
// for 200 requests against a bound of 3 s, so its goodput read 1.25 at best
// and a client wasting 0.5 s still read 1.03. With the offset, 1.00 is the
// best possible for every start.
func idealTime(n int, fixedWindow bool, offset time.Duration) time.Duration {
	var s float64
	if fixedWindow {
		if k := (n + trueRate - 1) / trueRate; k > 1 {
			s = float64(k-1) - offset.Seconds()
		}
	} else {
		s = float64(n-trueBurst) / trueRate
	}
	return time.Duration(max(s, 1.0/trueRate) * float64(time.Second))
}

// windowLength is the length of the github provider's fixed window.
const windowLength = time.Second

// bench runs every client of cfg against every dialect of cfg, one at a
// time, and returns one row per pair. It writes a progress line per job to
// progress. It stops early, with an error, when ctx ends.
func bench(ctx context.Context, cfg config, progress io.Writer) ([]row, error) {
	var rows []row
	for _, d := range cfg.dialects {
		opts := d.options
		opts.Faults.Latency = cfg.latency
		srv := sluicetest.NewServer(opts)
		for _, cs := range cfg.clients {
			r, err := benchOne(ctx, cfg, d, cs, srv)
			if err != nil {
				srv.Close()
				return rows, err
			}
			fmt.Fprintf(progress, "%-12s %-14s wall %6.2fs  throttles %4d  failures %4d\n",
				d.name, cs.name, r.wall.Seconds(), r.throttles, r.failures)
			rows = append(rows, r)
		}
		srv.Close()
	}
	return rows, nil
}

// benchOne runs the job of cfg through a fresh cs against srv, reset first.
func benchOne(ctx context.Context, cfg config, d dialectSpec, cs clientSpec, srv *sluicetest.Server) (row, error) {
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	srv.Reset()
	c, err := cs.build(newBaseTransport(cfg.concurrency))
	if err != nil {
		return row{}, err
	}
	start, wall, ok, lat := runJob(ctx, c, srv.URL, cfg.requests, cfg.concurrency, cfg.timeout)
	c.close()
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	return row{
		dialect:      d,
		client:       cs.name,
		requests:     cfg.requests,
		wall:         wall,
		throttles:    srv.Stats().Rejected,
		maxPerSecond: srv.MaxAccepted(time.Second),
		failures:     cfg.requests - ok,
		p99:          percentile(lat, 0.99),
		windowOffset: windowOffset(d, start),
	}, nil
}

// windowOffset returns how far into d's fixed window (epoch-aligned, on the
// provider's wall clock) start is; zero for dialects without one.
func windowOffset(d dialectSpec, start time.Time) time.Duration {
	if d.name != "github" {
		return 0
	}
	return time.Duration(start.UnixNano() % int64(windowLength))
}

// runJob sends n GETs to distinct paths under baseURL through c with
// workers goroutines, and returns the start, the wall time, the number of
// requests answered with a 2xx, and every request's latency. It gives up after
// timeout: requests not answered by then are not counted as answered.
func runJob(ctx context.Context, c client, baseURL string, n, workers int, timeout time.Duration) (time.Time, time.Duration, int, []time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var next, ok atomic.Int64
	var wg sync.WaitGroup
	lat := make([]time.Duration, n)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				status, err := c.get(ctx, fmt.Sprintf("%s/items/%d", baseURL, i))
				lat[i] = time.Since(t0)
				if err == nil && status >= 200 && status < 300 {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return start, time.Since(start), int(ok.Load()), lat
}

// percentile returns the q-th quantile of ds (0 for none).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}
