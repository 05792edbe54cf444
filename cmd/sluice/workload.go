package main

import (
	"strconv"

	"context"
	"fmt"
	"github.com/sluicehq/sluice"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// workload is the demo's job: n GETs from a number of workers, a share of
// them for one popular resource.
type workload struct {
	url string
	job
	// viaSluice says the client is a sluice Transport: the cost of a call
	// then also goes on the context (sluice.WithCost).
	viaSluice bool
	// viaProxy says the requests go through a sluice proxy: the cost of a
	// call then also goes in the Sluice-Cost header.
	viaProxy bool
	// header is added to every request (a worker's proxy token, its name).
	header http.Header
}

// result is what one run of the workload did.
type result struct {
	name      string
	wall      time.Duration
	ok        int64 // 2xx answers the caller got
	failures  int64 // errors and non-2xx answers
	throttles int64 // 429s (or the dialect's throttle) the provider sent
	accepted  int64 // requests the provider accepted
	retries   int64
	cacheHits int64
	waited    time.Duration
	dups      int64   // requests the provider performed twice
	events    []event // what the provider answered, and when
}

// lost is the work the caller did not get done.
func (r result) lost() int64 { return r.failures }

// path returns the path of the i-th request.
func (w workload) path(i int) string {
	if w.method != http.MethodGet {
		return fmt.Sprintf("/items/%d", i)
	}
	if w.popular > 0 && float64(i%100) < w.popular*100 {
		return "/popular"
	}
	return fmt.Sprintf("/items/%d", i)
}

func (w workload) run(ctx context.Context, name string, c *http.Client, srv *demoServer, progress io.Writer) result {
	r := result{name: name}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stop := startProgress(progress, name, w.requests, &done, srv, start)
	for range w.concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= w.requests || ctx.Err() != nil {
					return
				}
				if w.do(ctx, c, i) {
					atomic.AddInt64(&r.ok, 1)
				} else {
					atomic.AddInt64(&r.failures, 1)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	stop()
	r.wall = time.Since(start)
	st := srv.Stats()
	r.throttles, r.accepted, r.dups = int64(st.Rejected), int64(st.Accepted), int64(st.Duplicates)
	r.events = srv.tl.snapshot()
	return r
}

// do sends the i-th request and reports whether the caller got a 2xx.
func (w workload) do(ctx context.Context, c *http.Client, i int) bool {
	return w.send(ctx, c, i)/100 == 2
}

// send sends the i-th request and returns the status the caller got, 0
// for no answer. POSTs carry an Idempotency-Key of their own, so a client
// may retry them.
func (w workload) send(ctx context.Context, c *http.Client, i int) int {
	var body io.Reader
	if w.method != http.MethodGet {
		body = strings.NewReader(fmt.Sprintf(`{"item":%d}`, i))
	}
	if w.cost != nil && w.viaSluice {
		ctx = sluice.WithCost(ctx, w.cost(i))
	}
	req, err := http.NewRequestWithContext(ctx, w.method, w.url+w.path(i), body)
	if err != nil {
		return 0
	}
	if w.method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("demo-%d", i))
	}
	if w.cost != nil {
		req.Header.Set(sluicetest.CostHeader, strconv.FormatInt(w.cost(i), 10))
		if w.viaProxy {
			req.Header.Set("Sluice-Cost", strconv.FormatInt(w.cost(i), 10))
		}
	}
	for k, vs := range w.header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// startProgress draws a live progress line on out until the returned func
// is called; nil out draws nothing.
func startProgress(out io.Writer, name string, n int, done *atomic.Int64, srv *demoServer, start time.Time) func() {
	if out == nil {
		return func() {}
	}
	tty := isTerminal(out)
	every := 200 * time.Millisecond
	if !tty {
		every = 2 * time.Second
	}
	line := func() string {
		d := int(done.Load())
		const width = 30
		bar := strings.Repeat("=", d*width/n) + strings.Repeat(" ", width-d*width/n)
		st := srv.Stats()
		return fmt.Sprintf("%-18s [%s] %4d/%d  429s %4d  %5.1fs", name, bar, d, n, st.Rejected, time.Since(start).Seconds())
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				if tty {
					fmt.Fprintf(out, "\r%s\n", line())
				} else {
					fmt.Fprintln(out, line())
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprintf(out, "\r%s", line())
				} else {
					fmt.Fprintln(out, line())
				}
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}
