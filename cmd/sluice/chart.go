package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// chartStyle says how a terminal chart is drawn.
type chartStyle struct {
	// color draws with ANSI colours and Unicode blocks, for a terminal;
	// false draws plain ASCII, for a file or a pipe.
	color bool
	// cols is the most buckets drawn across; the chart is cols+8 wide.
	cols int
	// rows is the height of the plot area.
	rows int
}

// plainChart is the style for output that is not a terminal, and for the
// golden tests.
var plainChart = chartStyle{cols: 64, rows: 8}

const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

// drawTimeline draws one run's series: requests the provider accepted per
// second as bars, the provider's limit as a line (none when limit is 0), and
// below the axis a row marking the buckets where it throttled and a row
// marking failures (5xx, dropped connections). Every run of a demo shares
// width and top, so the charts compare at a glance.
func drawTimeline(out io.Writer, s series, limit, top float64, st chartStyle) {
	k := max(1, st.cols/len(s.accepted)) // characters per bucket
	perSec := func(n int) float64 { return float64(n) / s.width.Seconds() }
	block, half, line := "#", ".", "-"
	if st.color {
		block, half, line = "█", "▄", "─"
	}
	limitRow := -1
	if limit > 0 {
		limitRow = st.rows - 1 - int(math.Round(limit/top*float64(st.rows)-0.5))
	}
	for row := range st.rows {
		level := top * float64(st.rows-row) / float64(st.rows) // the row's top edge
		lower := top * float64(st.rows-row-1) / float64(st.rows)
		label := ""
		switch {
		case row == 0:
			label = fmt.Sprintf("%6.0f", top)
		case row == limitRow:
			label = fmt.Sprintf("%6.0f", limit)
		}
		p := painter{color: st.color}
		for j := range len(s.accepted) * k {
			v := perSec(s.accepted[j/k])
			frac := (v - lower) / (level - lower) // how much of this row the bar fills
			bottom := row == st.rows-1
			switch {
			case frac >= 0.75:
				p.put(ansiGreen, block)
			case frac >= 0.25 || (bottom && v > 0):
				p.put(ansiGreen, half)
			case row == limitRow:
				p.put(ansiYellow, line)
			default:
				p.put("", " ")
			}
		}
		fmt.Fprintf(out, "%6s |%s\n", label, p.String())
	}
	fmt.Fprintf(out, "%6s +%s\n", "0", strings.Repeat("-", len(s.accepted)*k))
	marks := func(name string, counts []int) {
		p := painter{color: st.color}
		for j := range len(counts) * k {
			switch n := counts[j/k]; {
			case n == 0:
				p.put("", " ")
			case n < 10:
				p.put(ansiRed, "x")
			default:
				p.put(ansiRed, "X")
			}
		}
		if p.marked {
			fmt.Fprintf(out, "%6s  %s\n", name, p.String())
		}
	}
	marks("429s", s.throttled)
	marks("errors", s.failed)
	fmt.Fprintf(out, "%6s  %s\n", "", axis(s, k))
}

// painter builds one line of a chart, switching ANSI colours only where
// they change, and trims trailing blanks.
type painter struct {
	color  bool
	b      strings.Builder
	cur    string // the colour in effect
	blanks int    // spaces not yet written
	marked bool   // anything but blanks was put
}

// put appends text in colour code ("" for none).
func (p *painter) put(code, text string) {
	if text == " " {
		p.blanks++
		return
	}
	p.marked = true
	if p.color && code != p.cur {
		if p.cur != "" {
			p.b.WriteString(ansiReset)
		}
		p.cur = ""
	}
	p.b.WriteString(strings.Repeat(" ", p.blanks))
	p.blanks = 0
	if p.color && code != p.cur {
		p.b.WriteString(code)
		p.cur = code
	}
	p.b.WriteString(text)
}

func (p *painter) String() string {
	if p.cur != "" {
		p.b.WriteString(ansiReset)
		p.cur = ""
	}
	return p.b.String()
}

// axis labels the time axis about every 10 characters, k characters a bucket.
func axis(s series, k int) string {
	step := max(1, (10+k-1)/k) // buckets between labels
	var b strings.Builder
	for i := 0; i < len(s.accepted); i += step {
		l := fmtSeconds(time.Duration(i) * s.width)
		b.WriteString(l)
		if pad := step*k - len(l); pad > 0 && i+step < len(s.accepted) {
			b.WriteString(strings.Repeat(" ", pad))
		}
	}
	return b.String()
}

func fmtSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// chartTop is the height of the shared y axis: a round number above both
// the limit and the highest bar of any run.
func chartTop(all []series, limit float64) float64 {
	hi := limit * 1.25
	for _, s := range all {
		for _, n := range s.accepted {
			hi = max(hi, float64(n)/s.width.Seconds())
		}
	}
	if hi <= 0 {
		return 1
	}
	step := math.Pow(10, math.Floor(math.Log10(hi)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*step >= hi {
			return m * step
		}
	}
	return 10 * step
}
