package sluiceprom

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// TestDashboardMetricsExist checks that every sluice_ series the Grafana
// dashboard in examples/ queries is one the Collector exposes, and that
// docs/metrics.md documents every metric the Collector exposes.
func TestDashboardMetricsExist(t *testing.T) {
	tr, err := sluice.NewTransport(sluice.Config{}, sluicetest.NewProvider(sluicetest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ch := make(chan *prometheus.Desc, 64)
	New(tr).Describe(ch)
	close(ch)
	exposed := map[string]bool{}
	nameRE := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		m := nameRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		exposed[m[1]] = true
	}

	raw, err := os.ReadFile("../examples/grafana/sluice-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	used := regexp.MustCompile(`sluice_[a-z_]+`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range used.FindAllString(tg.Expr, -1) {
				n++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if !exposed[base] {
					t.Errorf("panel %q queries %s, which the Collector does not expose", p.Title, name)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("the dashboard queries no sluice_ series")
	}

	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range exposed {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not document %s", name)
		}
	}
}
