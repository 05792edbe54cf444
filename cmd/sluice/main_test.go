package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// runAsMain makes the test binary behave as the sluice command, so that
// `demo -proxy` can start it as its worker processes (it re-executes
// os.Executable(), which in a test is the test binary).
const runAsMain = "SLUICE_TEST_RUN_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMain) == "1" {
		main()
	}
	goleak.VerifyTestMain(m)
}

func TestDemoRuns(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"demo", "-requests", "80", "-rate", "200", "-burst", "20", "-concurrency", "8", "-progress=false"}
	code := run(context.Background(), args, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"plain http.Client", "sluice", "429s caused", "work lost", "work done (2xx)", "provider answers per second"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// sluice's columns: every request done, no failure.
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "work done (2xx)") {
			f := strings.Fields(line)
			if f[len(f)-1] != "80/80" || f[len(f)-2] != "80/80" {
				t.Fatalf("sluice did not do all 80 requests: %q", line)
			}
		}
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	tests := [][]string{
		{"demo", "-rate", "0"},
		{"demo", "-dialect", "klingon"},
		{"demo", "-limit", "sieve"},
		{"demo", "-scenario", "tea-party"},
		{"demo", "-chart", "3d"},
		{"demo", "-requests", "-1"},
		{"demo", "extra"},
		{"bogus"},
		{},
	}
	for _, args := range tests {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if errOut.Len() == 0 {
			t.Errorf("run(%q) printed no error", args)
		}
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("routes:\n  - name: a\n    match: {host: api.example.com}\n    limits: [{rate: 10/s}]\n"), 0o600)
	os.WriteFile(bad, []byte("routes:\n  - name: a\n    limits: [{rate: 10/x}]\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"check", good}, &out, &errOut); code != 0 {
		t.Fatalf("check good: %d %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"check", bad}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "routes[0].limits[0].rate") {
		t.Fatalf("check bad: exit %d, %q", code, errOut.String())
	}
	if code := run(context.Background(), []string{"check", filepath.Join("..", "..", "examples", "sluice.yaml")}, &out, &errOut); code != 0 {
		t.Fatalf("examples/sluice.yaml does not validate: %s", errOut.String())
	}
}

func TestCheckHelpStdinVersion(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		out, err string // substrings of stdout and stderr
	}{
		{"help", []string{"check", "-h"}, "", 0, "usage: sluice check FILE|-", ""},
		{"long help", []string{"check", "--help"}, "", 0, "reads the configuration from stdin", ""},
		{"no file", []string{"check"}, "", 2, "", "usage: sluice check"},
		{"two files", []string{"check", "a", "b"}, "", 2, "", "usage: sluice check"},
		{"unknown flag", []string{"check", "-x", "a"}, "", 2, "", "flag provided but not defined: -x"},
		{"stdin ok", []string{"check", "-"}, "routes:\n- name: a\n  limits: [{rate: 10/s}]\n", 0, "stdin: ok", ""},
		{"stdin bad", []string{"check", "-"}, "routes:\n- name: a\n  retyr: {}\n", 1, "", `stdin: routes[0].retyr (line 3): unknown field (did you mean "retry"?)`},
		{"version", []string{"version"}, "", 0, "sluice ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runIn(context.Background(), tt.args, strings.NewReader(tt.stdin), &out, &errOut)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.err) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout ~%q, stderr ~%q", code, out.String(), errOut.String(), tt.code, tt.out, tt.err)
			}
		})
	}
}
