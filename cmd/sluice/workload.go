package main

import (
	"context"
	"fmt"
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
	url     string
	n       int
	workers int
	popular float64
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
}

// path returns the path of the i-th request.
func (w workload) path(i int) string {
	if w.popular > 0 && float64(i%100) < w.popular*100 {
		return "/popular"
	}
	return fmt.Sprintf("/items/%d", i)
}

func (w workload) run(ctx context.Context, name string, c *http.Client, srv *sluicetest.Server, progress io.Writer) result {
	r := result{name: name}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stop := startProgress(progress, name, w.n, &done, srv, start)
	for range w.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= w.n || ctx.Err() != nil {
					return
				}
				if w.get(ctx, c, w.url+w.path(i)) {
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
	r.throttles, r.accepted = int64(st.Rejected), int64(st.Accepted)
	return r
}

// get fetches url and reports whether the caller got a 2xx.
func (w workload) get(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// startProgress draws a live progress line on out until the returned func
// is called; nil out draws nothing.
func startProgress(out io.Writer, name string, n int, done *atomic.Int64, srv *sluicetest.Server, start time.Time) func() {
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

// report prints the side-by-side table.
func report(out io.Writer, rs []result, rate, burst float64) {
	fmt.Fprintln(out)
	row := func(label string, f func(r result) string) {
		fmt.Fprintf(out, "%-32s", label)
		for _, r := range rs {
			fmt.Fprintf(out, "%20s", f(r))
		}
		fmt.Fprintln(out)
	}
	row("", func(r result) string { return r.name })
	row("wall time", func(r result) string { return r.wall.Round(10 * time.Millisecond).String() })
	row("requests done (2xx)", func(r result) string { return fmt.Sprint(r.ok) })
	row("failures", func(r result) string { return fmt.Sprint(r.failures) })
	row("429s received", func(r result) string { return fmt.Sprint(r.throttles) })
	row("retries", func(r result) string { return fmt.Sprint(r.retries) })
	row("cache hits + coalesced", func(r result) string { return fmt.Sprint(r.cacheHits) })
	row("time requests waited (sum)", func(r result) string { return r.waited.Round(10 * time.Millisecond).String() })
	row("share of allowed rate used", func(r result) string {
		allowed := burst + rate*r.wall.Seconds()
		return fmt.Sprintf("%.0f%%", 100*min(1, float64(r.accepted)/allowed))
	})
	fmt.Fprintf(out, "\nshare of allowed rate = requests the provider accepted / (burst + rate x wall time)\n")
}
