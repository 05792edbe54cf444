package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// headline is one run's result in words: the work done and lost, the time
// it took against the least the limit permits, and the throttles caused.
// No figure in it can flatter a client that lost work: the pace is only
// given for a run that finished everything.
func headline(r result, sc scenario) string {
	n := sc.job.requests
	var b strings.Builder
	fmt.Fprintf(&b, "%-19s %d of %d done, %d lost, in %s", r.name, r.ok, n, r.lost(), fmtDur(r.wall))
	if r.lost() == 0 && sc.least > 0 {
		fmt.Fprintf(&b, " (the limit permits %s uncached)", fmtDur(sc.least))
	}
	fmt.Fprintf(&b, "; %d 429s caused", r.throttles)
	if r.dups > 0 {
		fmt.Fprintf(&b, "; %d performed twice", r.dups)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d > time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// printTable prints the runs side by side.
func printTable(out io.Writer, rs []result, sc scenario) {
	row := func(label string, f func(r result) string) {
		fmt.Fprintf(out, "%-30s", label)
		for _, r := range rs {
			fmt.Fprintf(out, "%20s", f(r))
		}
		fmt.Fprintln(out)
	}
	n := sc.job.requests
	row("", func(r result) string { return r.name })
	row("work done (2xx)", func(r result) string { return fmt.Sprintf("%d/%d", r.ok, n) })
	row("work lost", func(r result) string { return fmt.Sprint(r.lost()) })
	row("time to finish", func(r result) string {
		if r.lost() > 0 {
			return "did not finish"
		}
		return fmtDur(r.wall)
	})
	if sc.least > 0 {
		row("least time, limit, no cache", func(result) string { return fmtDur(sc.least) })
	}
	row("429s caused", func(r result) string { return fmt.Sprint(r.throttles) })
	row("retries", func(r result) string { return fmt.Sprint(r.retries) })
	row("cache hits + coalesced", func(r result) string { return fmt.Sprint(r.cacheHits) })
	row("time requests waited (sum)", func(r result) string { return fmtDur(r.waited) })
	if sc.job.method != "GET" {
		row("performed twice", func(r result) string { return fmt.Sprint(r.dups) })
	}
}

// printCharts draws each run's timeline on one shared scale.
func printCharts(out io.Writer, rs []result, sc scenario, st chartStyle) {
	span := time.Duration(0)
	for _, r := range rs {
		span = max(span, r.wall)
	}
	width := bucketWidth(span, st.cols)
	all := make([]series, len(rs))
	for i, r := range rs {
		all[i] = bucketize(r.events, width, span)
	}
	top := chartTop(all, sc.limitRate)
	for i, r := range rs {
		fmt.Fprintf(out, "\n%s: provider answers per second", r.name)
		if sc.limitRate > 0 {
			fmt.Fprintf(out, " (%s = accepted, %s = the limit, %g/s)", pick(st, "█", "#"), pick(st, "─", "-"), sc.limitRate)
		}
		fmt.Fprintln(out)
		drawTimeline(out, all[i], sc.limitRate, top, st)
	}
}

func pick(st chartStyle, color, plain string) string {
	if st.color {
		return color
	}
	return plain
}

// verdict lists what sluice did wrong in this scenario: work lost, 429s
// where it should cause none, requests performed twice. Empty means pass.
func verdict(rs []result, sc scenario) []string {
	var bad []string
	for i, r := range rs {
		if i == 0 {
			continue // the plain client is there to show what goes wrong
		}
		if r.lost() > 0 {
			bad = append(bad, fmt.Sprintf("%s lost %d requests", r.name, r.lost()))
		}
		if no429 := (i == 1 && sc.no429) || (i == 2 && sc.learnNo429); no429 && r.throttles > 0 {
			bad = append(bad, fmt.Sprintf("%s caused %d 429s where it should cause none", r.name, r.throttles))
		}
		if r.dups > 0 {
			bad = append(bad, fmt.Sprintf("%s had %d requests performed twice", r.name, r.dups))
		}
	}
	return bad
}
