package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun runs the example's job and checks that both exporters saw it.
func TestRun(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"-requests", "30"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errs.String())
	}
	for _, want := range []string{
		"30 lookups in", "0 failed",
		"sluice openai (internal)                 30",
		`sluice_requests_total{outcome="success",route="openai"} 30`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
