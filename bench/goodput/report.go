package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// target is issue 5's bar for sluice on one dialect.
type target struct {
	// minGoodput is the lowest acceptable goodput.
	minGoodput float64
	// maxThrottleShare is the most throttles allowed, as a share of the
	// job's requests; negative means no bound.
	maxThrottleShare float64
}

// targetFor returns the target for d: goodput >= 0.90 with throttles <= 2%
// where the dialect sends quota headers, goodput >= 0.80 where sluice must
// find the rate from throttles. Zero failures is required everywhere.
func targetFor(d dialectSpec) target {
	if d.quotaHeaders {
		return target{minGoodput: 0.90, maxThrottleShare: 0.02}
	}
	return target{minGoodput: 0.80, maxThrottleShare: -1}
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
	fmt.Fprintf(w, "goodput = ideal time / wall time, ideal = %d requests / %d req/s = %v (only 2xx answers count: with failures, ideal = successes / %d req/s)\n",
		cfg.requests, trueRate, idealTime(cfg.requests), trueRate)
	fmt.Fprintln(w, "throttles = 429s (github: 403s) the provider sent; failures = final answer an error or not 2xx, or unfinished")
	fmt.Fprintln(w, "max/1s = most requests the provider accepted in any 1 s (limit: 60 for token/leaky buckets, 100 across a github window boundary)")
	fmt.Fprintln(w, "* = job incomplete (failures > 0): a client that gives up fast can show a high goodput; read failures first")
	passed, checked := 0, 0
	for i := 0; i < len(rows); {
		d := rows[i].dialect
		t := targetFor(d)
		fmt.Fprintf(w, "\ndialect %s (sluice target: %s)\n", d.name, t)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "client\twall\tgoodput\tthrottles\tfailures\tmax/1s\ttarget")
		for ; i < len(rows) && rows[i].dialect.name == d.name; i++ {
			r := rows[i]
			verdict := "-"
			if r.client == "sluice" {
				verdict = t.check(r)
				checked++
				if verdict == "PASS" {
					passed++
				}
			}
			mark := ""
			if r.failures > 0 {
				mark = "*"
			}
			fmt.Fprintf(tw, "%s\t%.2fs\t%.2f%s\t%d (%.1f%%)\t%d\t%d\t%s\n", r.client, r.wall.Seconds(), r.goodput(), mark,
				r.throttles, 100*float64(r.throttles)/float64(r.requests), r.failures, r.maxPerSecond, verdict)
		}
		tw.Flush()
	}
	if checked > 0 {
		fmt.Fprintf(w, "\nsluice met %d of %d targets\n", passed, checked)
	}
}
