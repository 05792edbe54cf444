package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBenchSmall runs the command's core on a tiny job: sluice and the
// oracle against the IETF provider. Real loopback, bounded by the timeout.
func TestBenchSmall(t *testing.T) {
	cfg, err := parseFlags([]string{"-requests", "40", "-concurrency", "4", "-dialects", "ietf",
		"-clients", "sluice,oracle", "-timeout", "20s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := bench(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].client != "sluice" || rows[1].client != "oracle" {
		t.Fatalf("rows = %+v, want sluice then oracle", rows)
	}
	for _, r := range rows {
		if r.dialect.name != "ietf" || r.requests != 40 || r.wall <= 0 || r.wall > 20*time.Second {
			t.Errorf("%s: row %+v out of range", r.client, r)
		}
	}
	if rows[0].failures != 0 {
		t.Errorf("sluice: %d failures, want 0", rows[0].failures)
	}
	// The oracle paces 40 requests at 50/s with a burst of 10: at least
	// 30/50 s, less some scheduling slack.
	if rows[1].wall < 500*time.Millisecond {
		t.Errorf("oracle: wall %v, want >= 500ms (paced at 50/s)", rows[1].wall)
	}
	var out bytes.Buffer
	report(&out, cfg, rows)
	for _, want := range []string{"dialect ietf", "(40 requests - burst 10) / 50 req/s = 600ms", "sluice ", "oracle "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // "" means valid
	}{
		{nil, ""},
		{[]string{"-dialects", "plain,github", "-clients", "oracle"}, ""},
		{[]string{"-requests", "0"}, "-requests 0"},
		{[]string{"-requests", "1000000"}, "-requests 1000000"},
		{[]string{"-concurrency", "-3"}, "-concurrency -3"},
		{[]string{"-timeout", "0s"}, "-timeout 0s"},
		{[]string{"-dialects", "ietf,bogus"}, `dialect "bogus"`},
		{[]string{"-dialects", "ietf,,none"}, "empty item"},
		{[]string{"-dialects", "ietf,IETF"}, `"ietf" given twice`},
		{[]string{"-clients", "sluice,curl"}, `unknown client "curl"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
			t.Errorf("parseFlags(%q) error = %q, want containing %q", tt.args, got, tt.wantErr)
		}
	}
}

func TestTargetCheck(t *testing.T) {
	quota, _ := dialectFor("github")
	plain, _ := dialectFor("none")
	tests := []struct {
		name string
		r    row
		want string
	}{
		{"quota pass", row{dialect: quota, requests: 600, wall: 12 * time.Second, throttles: 12}, "PASS"},
		{"quota slow", row{dialect: quota, requests: 600, wall: 13750 * time.Millisecond}, "MISS (goodput 0.80 < 0.90)"},
		{"quota throttled", row{dialect: quota, requests: 600, wall: 12 * time.Second, throttles: 13}, "MISS (throttles 13 > 12)"},
		{"plain pass", row{dialect: plain, requests: 600, wall: 13 * time.Second, throttles: 30}, "PASS"},
		{"plain throttled", row{dialect: plain, requests: 600, wall: 12 * time.Second, throttles: 31}, "MISS (throttles 31 > 30)"},
		{"plain failures", row{dialect: plain, requests: 600, wall: 12 * time.Second, failures: 1}, "MISS (1 failures)"},
		{"plain slow", row{dialect: plain, requests: 600, wall: 14750 * time.Millisecond}, "MISS (goodput 0.80 < 0.90)"},
		{"rate pass", row{client: "sluice-rate", dialect: plain, requests: 600, wall: 12 * time.Second}, "PASS"},
		{"rate throttled", row{client: "sluice-rate", dialect: plain, requests: 600, wall: 12 * time.Second, throttles: 1}, "MISS (throttles 1 > 0)"},
	}
	for _, tt := range tests {
		c := tt.r.client
		if c == "" {
			c = "sluice"
		}
		if got := targetFor(tt.r.dialect, c).check(tt.r); got != tt.want {
			t.Errorf("%s: check = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-requests", "x"}, 2},
		{[]string{"-clients", "nope"}, 2},
	}
	for _, tt := range tests {
		if got := run(context.Background(), tt.args, io.Discard, io.Discard); got != tt.want {
			t.Errorf("run(%q) = %d, want %d", tt.args, got, tt.want)
		}
	}
}

func TestReport(t *testing.T) {
	d, _ := dialectFor("openai")
	cfg := config{requests: 100, concurrency: 4, timeout: time.Minute, dialects: []dialectSpec{d}}
	rows := []row{
		{dialect: d, client: "sluice", requests: 100, wall: 1800 * time.Millisecond, throttles: 1, maxPerSecond: 58},
		{dialect: d, client: "resty", requests: 100, wall: time.Second, throttles: 150, failures: 30, maxPerSecond: 60},
	}
	var out bytes.Buffer
	report(&out, cfg, rows)
	for _, want := range []string{
		"dialect openai (sluice target: goodput >= 0.95, throttles <= 2% of requests, 0 failures; sluice-rate: goodput >= 0.97, throttles <= 0% of requests, 0 failures)",
		"sluice  1.80s  1.80s  1.00     1 (1.0%)      0         58      0s   PASS",
		"resty   1.00s  1.20s  1.20*    150 (150.0%)  30        60      0s   -",
		"sluice met 1 of 1 targets",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// The least time for a fixed window of 50 per second counts from the start
// of the window the job starts in: 200 requests starting 0.6 s into it need
// four windows, the last beginning 2.4 s after the start.
func TestIdealTime(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		fixed  bool
		offset time.Duration
		want   time.Duration
	}{
		{"bucket", 200, false, 0, 3800 * time.Millisecond},
		{"bucket ignores offset", 200, false, 600 * time.Millisecond, 3800 * time.Millisecond},
		{"window, at a boundary", 200, true, 0, 3 * time.Second},
		{"window, 0.6 s in", 200, true, 600 * time.Millisecond, 2400 * time.Millisecond},
		{"window, one more request", 201, true, 600 * time.Millisecond, 3400 * time.Millisecond},
		{"window, one window's worth", 50, true, 900 * time.Millisecond, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := idealTime(tt.n, tt.fixed, tt.offset); got != tt.want {
			t.Errorf("%s: idealTime(%d, %v, %v) = %v, want %v", tt.name, tt.n, tt.fixed, tt.offset, got, tt.want)
		}
	}
}
