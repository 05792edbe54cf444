package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedRuns are three runs of a 300-request job against a 50/s burst-10
// limit: a plain client that burst and was throttled, a paced client, and a
// flaky one, as a fake clock would have recorded them.
func fixedRuns() []result {
	var plain, paced, flaky []event
	for i := range 10 {
		plain = append(plain, event{at: time.Duration(i) * time.Millisecond, o: accepted})
	}
	for i := range 290 {
		plain = append(plain, event{at: 10*time.Millisecond + time.Duration(i)*50*time.Microsecond, o: throttled})
	}
	for i := range 300 {
		at := time.Duration(0)
		if i >= 10 {
			at = time.Duration(i-10) * 20 * time.Millisecond
		}
		paced = append(paced, event{at: at, o: accepted})
		o := accepted
		if i%9 == 4 {
			o = failed
		}
		flaky = append(flaky, event{at: at, o: o})
	}
	return []result{
		{name: "plain", wall: 25 * time.Millisecond, ok: 10, failures: 290, throttles: 290, events: plain},
		{name: "paced", wall: 5800 * time.Millisecond, ok: 300, events: paced},
		{name: "flaky", wall: 5800 * time.Millisecond, ok: 267, failures: 33, events: flaky},
	}
}

func goldenScenario() scenario {
	return scenario{name: "bucket", title: "token bucket 50/s burst 10", look: "the bars",
		limitRate: 50, least: 5800 * time.Millisecond, job: job{requests: 300, method: "GET"}}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func TestChartGolden(t *testing.T) {
	tests := []struct {
		golden string
		style  chartStyle
	}{
		{"chart_plain.golden", plainChart},
		{"chart_color.golden", chartStyle{color: true, cols: 64, rows: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var out bytes.Buffer
			printCharts(&out, fixedRuns(), goldenScenario(), tt.style)
			checkGolden(t, tt.golden, out.Bytes())
			for i, line := range strings.Split(out.String(), "\n") {
				if n := len([]rune(stripANSI(line))); n > 80 {
					t.Errorf("line %d is %d columns wide, more than a terminal's 80: %q", i, n, line)
				}
			}
			if !tt.style.color && strings.ContainsAny(out.String(), "\x1b█▄─") {
				t.Error("the plain chart has ANSI escapes or non-ASCII blocks")
			}
		})
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestHeadlineNeverFlattersLostWork(t *testing.T) {
	rs := fixedRuns()
	sc := goldenScenario()
	plain := headline(rs[0], sc)
	if !strings.Contains(plain, "10 of 300 done, 290 lost") || !strings.Contains(plain, "290 429s") {
		t.Errorf("plain headline = %q", plain)
	}
	if strings.Contains(plain, "permits") {
		t.Errorf("a run that lost work is compared with the least time: %q", plain)
	}
	var table bytes.Buffer
	printTable(&table, rs, sc)
	if !strings.Contains(table.String(), "did not finish") || strings.Contains(table.String(), "share") {
		t.Errorf("table:\n%s", table.String())
	}
}

func TestBucketize(t *testing.T) {
	ev := []event{{0, accepted}, {240 * time.Millisecond, throttled}, {250 * time.Millisecond, failed}, {2 * time.Second, accepted}}
	s := bucketize(ev, 250*time.Millisecond, time.Second)
	want := series{accepted: []int{1, 0, 0, 1}, throttled: []int{1, 0, 0, 0}, failed: []int{0, 1, 0, 0}}
	for i := range 4 {
		if s.accepted[i] != want.accepted[i] || s.throttled[i] != want.throttled[i] || s.failed[i] != want.failed[i] {
			t.Fatalf("bucketize = %+v, want %+v (events past the span land in the last bucket)", s, want)
		}
	}
}

func TestBucketWidth(t *testing.T) {
	tests := []struct {
		span time.Duration
		want time.Duration
	}{
		{10 * time.Millisecond, 250 * time.Millisecond},
		{16 * time.Second, 250 * time.Millisecond},
		{17 * time.Second, 500 * time.Millisecond},
		{50 * time.Second, time.Second},
		{2 * time.Hour, 113 * time.Second},
	}
	for _, tt := range tests {
		if got := bucketWidth(tt.span, 64); got != tt.want {
			t.Errorf("bucketWidth(%v, 64) = %v, want %v", tt.span, got, tt.want)
		}
	}
}
