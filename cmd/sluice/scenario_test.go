package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sluicetest"
)

// TestScenariosPass runs every scenario, small, and checks that sluice
// passes it: exit status 0, no FAIL line, every request done in both sluice
// columns.
func TestScenariosPass(t *testing.T) {
	tests := []struct {
		scenario string
		args     []string
	}{
		{"bucket", []string{"-rate", "200", "-burst", "20", "-requests", "80"}},
		{"bucket", []string{"-dialect", "github", "-limit", "fixed-window", "-rate", "100", "-requests", "150"}},
		{"github-hourly", []string{"-requests", "100"}},
		{"github-secondary", []string{"-requests", "60"}},
		{"llm-tokens", []string{"-requests", "40"}},
		{"flaky", []string{"-requests", "60"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			args := append([]string{"demo", "-scenario", tt.scenario, "-progress=false", "-concurrency", "16"}, tt.args...)
			var out, errOut bytes.Buffer
			code := run(context.Background(), args, &out, &errOut)
			if code != 0 || strings.Contains(out.String(), "FAIL") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), "scenario "+tt.scenario) {
				t.Errorf("output does not name the scenario:\n%s", out.String())
			}
		})
	}
}

// TestScenarioFailsWhenSluiceLosesWork gives sluice a configuration with
// retries off on the flaky API: it loses requests, and the demo says so and
// exits 1.
func TestScenarioFailsWhenSluiceLosesWork(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "noretry.yaml")
	if err := os.WriteFile(cfg, []byte("routes:\n  - name: demo\n    match: {host: 127.0.0.1}\n    retry: {max_attempts: 1}\n    limits: [{rate: 100/s, burst: 20}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"demo", "-scenario", "flaky", "-requests", "60", "-progress=false", "-chart", "off", "-config", cfg}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "FAIL: sluice (rate set) lost") {
		t.Fatalf("exit %d, want 1 with a FAIL line\n%s\n%s", code, out.String(), errOut.String())
	}
}

func TestVerdict(t *testing.T) {
	sc := scenario{no429: true, learnNo429: false, job: job{requests: 10}}
	tests := []struct {
		name string
		rs   []result
		want []string
	}{
		{"plain client's losses do not count", []result{{name: "plain", failures: 9, throttles: 9}, {name: "set", ok: 10}, {name: "learn", ok: 10}}, nil},
		{"lost work", []result{{}, {name: "set", ok: 9, failures: 1}, {name: "learn", ok: 10}}, []string{"set lost 1 requests"}},
		{"429 where none is allowed", []result{{}, {name: "set", ok: 10, throttles: 2}, {name: "learn", ok: 10, throttles: 3}}, []string{"set caused 2 429s where it should cause none"}},
		{"performed twice", []result{{}, {name: "set", ok: 10}, {name: "learn", ok: 10, dups: 1}}, []string{"learn had 1 requests performed twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verdict(tt.rs, sc)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("verdict = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTimelineRecordsWhatWentOverTheWire checks the timeline middleware
// against the provider's own counts: accepted, throttled and dropped.
func TestTimelineRecordsWhatWentOverTheWire(t *testing.T) {
	p := sluicetest.NewProvider(sluicetest.Options{
		Limit:  sluicetest.TokenBucket(1, 5),
		Faults: sluicetest.Faults{ResetRatio: 0.2, Seed: 3},
	})
	defer p.Close()
	tl := newTimeline(p, statusThrottle(http.StatusTooManyRequests), 1000)
	srv := httptest.NewServer(tl)
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer c.CloseIdleConnections()
	for range 30 {
		resp, err := c.Get(srv.URL + "/x")
		if err == nil {
			resp.Body.Close()
		}
	}
	var got [3]int
	for _, e := range tl.snapshot() {
		got[e.o]++
	}
	st := p.Stats()
	if got[accepted] != st.Accepted || got[throttled] != st.Rejected || got[failed] != st.Resets {
		t.Errorf("timeline counted accepted/throttled/failed %v, provider %d/%d/%d", got, st.Accepted, st.Rejected, st.Resets)
	}
	if st.Resets == 0 || st.Rejected == 0 {
		t.Fatalf("the fault sequence did not exercise resets and throttles: %+v", st)
	}
	tl.restart()
	if n := len(tl.snapshot()); n != 0 {
		t.Errorf("restart kept %d events", n)
	}
}
