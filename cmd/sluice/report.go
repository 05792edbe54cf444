package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Parse(reportTemplate))

// svgChart is one run's timeline laid out for the HTML report: every shape
// is computed here, so the template only places them.
type svgChart struct {
	Width, Height int
	PlotTop       int // y of the plot's top edge
	PlotBottom    int // y of the time axis
	Accepted      []svgRect
	Throttled     []svgRect // marks in the strip under the axis
	Failed        []svgRect
	LimitY        float64 // y of the limit line; 0 = none
	Limit         string
	YTicks        []svgTick
	XTicks        []svgTick
}

type svgRect struct {
	X, Y, W, H float64
	Title      string
}

type svgTick struct {
	Pos   float64
	Label string
}

// reportRun is one column of the report.
type reportRun struct {
	Headline string
	Chart    svgChart
}

// reportData is everything the report shows.
type reportData struct {
	Scenario string
	Title    string
	Look     string
	Runs     []reportRun
	Table    string
	Workers  []workerTable // demo -proxy only: a table per run
	Config   string
	Verdict  []string
	When     string
}

const (
	svgWidth  = 900
	svgLeft   = 56
	svgRight  = 16
	svgTop    = 12
	svgPlot   = 180 // plot height
	svgStrip  = 14  // each mark strip's height
	svgBottom = 30
)

// layoutChart computes the SVG shapes for one run.
func layoutChart(s series, limit, top float64) svgChart {
	plotW := float64(svgWidth - svgLeft - svgRight)
	barW := plotW / float64(len(s.accepted))
	c := svgChart{Width: svgWidth, PlotTop: svgTop, PlotBottom: svgTop + svgPlot}
	c.Height = c.PlotBottom + 2*svgStrip + svgBottom
	y := func(v float64) float64 { return float64(c.PlotBottom) - v/top*svgPlot }
	sec := s.width.Seconds()
	for i := range s.accepted {
		x := float64(svgLeft) + float64(i)*barW
		from := fmtSeconds(time.Duration(i) * s.width)
		if n := s.accepted[i]; n > 0 {
			v := float64(n) / sec
			c.Accepted = append(c.Accepted, svgRect{X: x, Y: y(v), W: barW * 0.9, H: float64(c.PlotBottom) - y(v),
				Title: fmt.Sprintf("from %s: %d accepted (%.0f/s)", from, n, v)})
		}
		if n := s.throttled[i]; n > 0 {
			c.Throttled = append(c.Throttled, svgRect{X: x, Y: float64(c.PlotBottom) + 3, W: barW * 0.9, H: svgStrip - 4,
				Title: fmt.Sprintf("from %s: %d throttled (429)", from, n)})
		}
		if n := s.failed[i]; n > 0 {
			c.Failed = append(c.Failed, svgRect{X: x, Y: float64(c.PlotBottom) + svgStrip + 3, W: barW * 0.9, H: svgStrip - 4,
				Title: fmt.Sprintf("from %s: %d errors or dropped connections", from, n)})
		}
	}
	if limit > 0 {
		c.LimitY, c.Limit = y(limit), fmt.Sprintf("limit %g/s", limit)
	}
	for _, f := range []float64{0, 0.5, 1} {
		c.YTicks = append(c.YTicks, svgTick{Pos: y(top * f), Label: fmt.Sprintf("%.0f", top*f)})
	}
	step := max(1, (len(s.accepted)+9)/10)
	for i := 0; i <= len(s.accepted); i += step {
		c.XTicks = append(c.XTicks, svgTick{Pos: float64(svgLeft) + float64(i)*barW, Label: fmtSeconds(time.Duration(i) * s.width)})
	}
	return c
}

// renderReport writes the HTML report: the scenario, a headline and a
// timeline per run, the table, the per-worker tables of `demo -proxy`
// (workers; nil for the plain demo) and the sluice configuration used.
func renderReport(sc scenario, cfgText string, rs []result, workers []workerTable, when time.Time) ([]byte, error) {
	span := time.Duration(0)
	for _, r := range rs {
		span = max(span, r.wall)
	}
	width := bucketWidth(span, 120)
	all := make([]series, len(rs))
	for i, r := range rs {
		all[i] = bucketize(r.events, width, span)
	}
	top := chartTop(all, sc.limitRate)
	d := reportData{Scenario: sc.name, Title: sc.title, Look: sc.look, Verdict: verdict(rs, sc), When: when.UTC().Format(time.RFC3339)}
	for i, r := range rs {
		d.Runs = append(d.Runs, reportRun{Headline: headline(r, sc), Chart: layoutChart(all[i], sc.limitRate, top)})
	}
	var table bytes.Buffer
	printTable(&table, rs, sc)
	d.Table = table.String()
	d.Workers = workers
	d.Config = cfgText
	var out bytes.Buffer
	if err := reportTmpl.Execute(&out, d); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return out.Bytes(), nil
}

// writeReportFile renders the report into path.
func writeReportFile(path string, sc scenario, cfgText string, rs []result, workers []workerTable) error {
	b, err := renderReport(sc, cfgText, rs, workers, time.Now())
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("-report: %w", err)
	}
	return nil
}

// configText is the configuration the demo ran with, as YAML: the file (the
// embedded one, or -config), and the limits the "rate set" run used.
func configText(o demoOptions, sc scenario) (string, error) {
	file := string(demoConfig)
	if o.config != "" {
		b, err := os.ReadFile(o.config)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	var ls []map[string]any
	for _, l := range sc.limits {
		m := map[string]any{"rate": l.Rate}
		if l.Burst > 0 {
			m["burst"] = l.Burst
		}
		if l.Strict {
			m["strict"] = true
		}
		if l.Weighted {
			m["weighted"] = true
		}
		ls = append(ls, m)
	}
	limits, err := yaml.Marshal(map[string]any{"limits": ls})
	if err != nil {
		return "", err
	}
	return file + "\n# the \"rate set\" run adds to the demo route:\n" + string(limits), nil
}
