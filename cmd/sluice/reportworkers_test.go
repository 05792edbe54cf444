package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fixedProxyRuns are the three runs of `demo -proxy` with two workers, as
// the parent collects them: the plain clients draw 429s, the proxy runs
// none, and worker 2 gets 60% of what the provider accepts through the
// proxy.
func fixedProxyRuns() []proxyRun {
	row := func(k, pid, reqs int, ok, got429 int64, p50, p99 time.Duration, prov [3]int64) workerRow {
		return workerRow{rep: workerReport{Worker: k, PID: pid, Requests: reqs, OK: ok, Failures: int64(reqs) - ok, Got429: got429,
			Wall: 2 * time.Second, P50: p50, P99: p99}, provider: prov}
	}
	rs := fixedRuns()
	return []proxyRun{
		{result: rs[0], workers: []workerRow{
			row(1, 101, 150, 5, 145, 2*time.Millisecond, 9*time.Millisecond, [3]int64{5, 145, 0}),
			row(2, 102, 150, 5, 145, 3*time.Millisecond, 8*time.Millisecond, [3]int64{5, 145, 0}),
		}},
		{result: rs[1], viaProxy: true, workers: []workerRow{
			row(1, 201, 150, 150, 0, 1500*time.Millisecond, 2900*time.Millisecond, [3]int64{120, 0, 0}),
			row(2, 202, 150, 150, 0, 1400*time.Millisecond, 2800*time.Millisecond, [3]int64{180, 0, 0}),
		}},
		{result: rs[2], viaProxy: true, workers: []workerRow{
			row(1, 0, 150, 0, 0, 0, 0, [3]int64{}), // a worker that reported no pid and got no answer
			row(2, 302, 150, 150, 0, 1400*time.Millisecond, 2800*time.Millisecond, [3]int64{150, 0, 0}),
		}},
	}
}

// TestReportWorkerTables: the report of `demo -proxy` has one per-worker
// table per run with a row per worker and its cells; the plain demo's has
// none, and both stay self-contained.
func TestReportWorkerTables(t *testing.T) {
	runs := fixedProxyRuns()
	results := make([]result, len(runs))
	for i, r := range runs {
		results[i] = r.result
	}
	b, err := renderReport(goldenScenario(), "routes: []\n", results, workerTables(runs), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	if n := strings.Count(html, `<table class="workers">`); n != len(runs) {
		t.Errorf("%d worker tables, want one per run (%d)", n, len(runs))
	}
	tables := regexp.MustCompile(`(?s)<table class="workers">(.*?)</table>`).FindAllStringSubmatch(html, -1)
	cells := regexp.MustCompile(`<td[^>]*>([^<]*)</td>`)
	want := [][][]string{
		{ // plain: no consumer, the 429s in red
			{"worker 1", "-", "Go, pid 101", "150", "5", "145", "145", "50.0%", "2ms", "9ms", "2s"},
			{"worker 2", "-", "Go, pid 102", "150", "5", "145", "145", "50.0%", "3ms", "8ms", "2s"},
		},
		{
			{"worker 1", "worker-1", "Go, pid 201", "150", "150", "0", "0", "40.0%", "1.5s", "2.9s", "2s"},
			{"worker 2", "worker-2", "Go, pid 202", "150", "150", "0", "0", "60.0%", "1.4s", "2.8s", "2s"},
		},
		{
			{"worker 1", "worker-1", "Go", "150", "0", "0", "0", "0.0%", "-", "-", "2s"},
			{"worker 2", "worker-2", "Go, pid 302", "150", "150", "0", "0", "100.0%", "1.4s", "2.8s", "2s"},
		},
	}
	for i, tb := range tables {
		if i >= len(want) {
			break
		}
		if !strings.Contains(tb[1], "<caption>"+runs[i].name+"</caption>") {
			t.Errorf("table %d is not captioned %q:\n%s", i, runs[i].name, tb[1])
		}
		rows := regexp.MustCompile(`(?s)<tr><td.*?</tr>`).FindAllString(tb[1], -1)
		if len(rows) != len(want[i]) {
			t.Errorf("table %d: %d rows, want %d", i, len(rows), len(want[i]))
			continue
		}
		for j, row := range rows {
			var got []string
			for _, m := range cells.FindAllStringSubmatch(row, -1) {
				got = append(got, m[1])
			}
			if strings.Join(got, "|") != strings.Join(want[i][j], "|") {
				t.Errorf("table %d row %d:\n got %q\nwant %q", i, j, got, want[i][j])
			}
		}
	}
	if n := strings.Count(tables[0][1], `class="bad"`); n != 4 {
		t.Errorf("plain run: %d cells marked bad, want 4 (each worker's two 429 counts)", n)
	}
	for _, bad := range []string{"<script", "<link", "@import", "url(", "https://"} {
		if strings.Contains(html, bad) {
			t.Errorf("report is not self-contained: it has %q", bad)
		}
	}
	if !strings.Contains(html, "<code>sluice demo -proxy -scenario bucket</code>") {
		t.Error("the report does not say it was made by demo -proxy")
	}
	checkWorkerTablesInBrowser(t, b)

	plain, err := renderReport(goldenScenario(), "routes: []\n", fixedRuns(), nil, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<table", "Per worker", "-proxy"} {
		if strings.Contains(string(plain), bad) {
			t.Errorf("the plain demo's report has %q", bad)
		}
	}
}

func TestPercentiles(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	tests := []struct {
		name     string
		in       []time.Duration
		p50, p99 time.Duration
	}{
		{"none", nil, 0, 0},
		{"none answered", []time.Duration{-1, -1}, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond},
		{"unanswered left out", append(ms(3, 1, 2), -1, -1, -1, -1), 2 * time.Millisecond, 3 * time.Millisecond},
		{"a hundred", ms(hundred...), 50 * time.Millisecond, 99 * time.Millisecond},
	}
	for _, tt := range tests {
		p50, p99 := percentiles(tt.in)
		if p50 != tt.p50 || p99 != tt.p99 {
			t.Errorf("%s: p50 %v p99 %v, want %v %v", tt.name, p50, p99, tt.p50, tt.p99)
		}
	}
}

// checkWorkerTablesInBrowser has headless Chromium (where installed) parse
// the report: the DOM it builds has the worker tables, rows and cells.
func checkWorkerTablesInBrowser(t *testing.T, report []byte) {
	t.Run("browser", func(t *testing.T) {
		bin := chromium(t)
		path := filepath.Join(t.TempDir(), "report.html")
		if err := os.WriteFile(path, report, 0o600); err != nil {
			t.Fatal(err)
		}
		dom := string(runChromium(t, bin, "--dump-dom", "file://"+path))
		for _, c := range []struct {
			what string
			want int
		}{{`<table class="workers">`, 3}, {"<caption>", 3}, {"<tr><td>worker ", 6}, {`<td class="bad">`, 4}} {
			if got := strings.Count(dom, c.what); got != c.want {
				t.Errorf("the browser's DOM has %d %s, want %d", got, c.what, c.want)
			}
		}
	})
}
