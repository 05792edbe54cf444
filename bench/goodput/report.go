package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// target is issue 5's bar for sluice on one dialect.
type target struct {
	// minGoodput is the lowest acceptable goodput.
	minGoodput float64
	// maxThrottleShare is the most throttles allowed, as a share of the
	// job's requests; negative means no bound.
	maxThrottleShare float64
}

// targetFor returns issue 10's target for a sluice client on d: with the
// rate configured (sluice-rate), goodput >= 0.97 and no throttle; learning,
// goodput >= 0.95 with throttles <= 2% where the dialect sends quota
// headers (0.90 for GitHub's fixed window), goodput >= 0.90 with throttles
// <= 5% where sluice must find the rate from throttles. Zero failures is
// required everywhere.
func targetFor(d dialectSpec, client string) target {
	switch {
	case client == "sluice-rate":
		return target{minGoodput: 0.97, maxThrottleShare: 0}
	case d.name == "github":
		return target{minGoodput: 0.90, maxThrottleShare: 0.02}
	case d.quotaHeaders:
		return target{minGoodput: 0.95, maxThrottleShare: 0.02}
	}
	return target{minGoodput: 0.90, maxThrottleShare: 0.05}
}

// String describes t.
func (t target) String() string {
	s := fmt.Sprintf("goodput >= %.2f", t.minGoodput)
	if t.maxThrottleShare >= 0 {
		s += fmt.Sprintf(", throttles <= %.0f%% of requests", t.maxThrottleShare*100)
	}
	return s + ", 0 failures"
}

// check returns "PASS", or "MISS" followed by what fell short.
func (t target) check(r row) string {
	verdict := ""
	if g := r.goodput(); g < t.minGoodput {
		verdict += fmt.Sprintf("; goodput %.2f < %.2f", g, t.minGoodput)
	}
	if t.maxThrottleShare >= 0 && float64(r.throttles) > t.maxThrottleShare*float64(r.requests) {
		verdict += fmt.Sprintf("; throttles %d > %.0f", r.throttles, t.maxThrottleShare*float64(r.requests))
	}
	if r.failures > 0 {
		verdict += fmt.Sprintf("; %d failures", r.failures)
	}
	if verdict == "" {
		return "PASS"
	}
	return "MISS (" + verdict[2:] + ")"
}

// report prints the header and one table per dialect, each with a PASS or
// MISS for the sluice row, then a one-line summary.
func report(w io.Writer, cfg config, rows []row) {
	fmt.Fprintf(w, "goodput: %d GET requests to distinct paths, concurrency %d, timeout %v per client\n",
		cfg.requests, cfg.concurrency, cfg.timeout)
	fmt.Fprintf(w, "provider's hidden limit: %d req/s, burst %d (github: fixed window %d/1s; shopify: leaky bucket %d draining %d/s)\n",
		trueRate, trueBurst, trueRate, trueBurst, trueRate)
	fmt.Fprintf(w, "goodput = least time the limit permits / wall time: (%d requests - burst %d) / %d req/s = %v (github: %v less the job's start offset in its first 1 s window, one window's worth at once in each window); only 2xx answers count\n",
		cfg.requests, trueBurst, trueRate, idealTime(cfg.requests, false, 0), idealTime(cfg.requests, true, 0))
	fmt.Fprintln(w, "ideal = that least time for the row (its 2xx answers; github: from the start of the window the job started in)")
	fmt.Fprintln(w, "throttles = 429s (github: 403s) the provider sent; failures = final answer an error or not 2xx, or unfinished")
	fmt.Fprintln(w, "max/1s = most requests the provider accepted in any 1 s (limit: 60 for token/leaky buckets, 100 across a github window boundary)")
	fmt.Fprintln(w, "* = job incomplete (failures > 0): a client that gives up fast can show a high goodput; read failures first")
	passed, checked := 0, 0
	for i := 0; i < len(rows); {
		d := rows[i].dialect
		fmt.Fprintf(w, "\ndialect %s (sluice target: %s; sluice-rate: %s)\n", d.name, targetFor(d, "sluice"), targetFor(d, "sluice-rate"))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "client\twall\tideal\tgoodput\tthrottles\tfailures\tmax/1s\tp99\ttarget")
		for ; i < len(rows) && rows[i].dialect.name == d.name; i++ {
			r := rows[i]
			verdict := "-"
			if r.client == "sluice" || r.client == "sluice-rate" {
				verdict = targetFor(d, r.client).check(r)
				checked++
				if verdict == "PASS" {
					passed++
				}
			}
			mark := ""
			if r.failures > 0 {
				mark = "*"
			}
			fmt.Fprintf(tw, "%s\t%.2fs\t%.2fs\t%.2f%s\t%d (%.1f%%)\t%d\t%d\t%v\t%s\n", r.client, r.wall.Seconds(), r.ideal().Seconds(), r.goodput(), mark,
				r.throttles, 100*float64(r.throttles)/float64(r.requests), r.failures, r.maxPerSecond, r.p99.Round(time.Millisecond), verdict)
		}
		tw.Flush()
	}
	if checked > 0 {
		fmt.Fprintf(w, "\nsluice met %d of %d targets\n", passed, checked)
	}
}
