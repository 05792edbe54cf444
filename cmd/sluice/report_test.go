package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReportIsSelfContained(t *testing.T) {
	b, err := renderReport(goldenScenario(), "routes: []\n", fixedRuns(), nil, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, bad := range []string{"<script", "<link", "@import", "url(", "https://"} {
		if strings.Contains(html, bad) {
			t.Errorf("report is not self-contained: it has %q", bad)
		}
	}
	if n := strings.Count(html, "http://") - strings.Count(html, `xmlns="http://www.w3.org/2000/svg"`); n != 0 {
		t.Errorf("report has %d external http:// references", n)
	}
	for _, want := range []string{"<svg", `class="accepted"`, `class="throttled"`, `class="failed"`, `class="limit"`, "did not finish", "routes: []"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// chromium returns the path of a headless Chromium, skipping the test when
// there is none, unless SLUICE_REQUIRE_CHROMIUM is set (CI installs it).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SLUICE_REQUIRE_CHROMIUM") != "" {
		t.Fatal("SLUICE_REQUIRE_CHROMIUM is set but no chromium is installed (apt-get install chromium)")
	}
	t.Skip("no chromium on this machine: the report is not rendered in a browser (apt-get install chromium)")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--hide-scrollbars"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestReportInBrowser renders the report in headless Chromium and checks
// that the browser built every series of every chart, and painted them: the
// accepted bars in green, the 429 marks in red.
func TestReportInBrowser(t *testing.T) {
	bin := chromium(t)
	runs, sc := fixedRuns(), goldenScenario()
	b, err := renderReport(sc, "routes: []\n", runs, nil, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// What the layout says each chart holds.
	span := 5800 * time.Millisecond
	width := bucketWidth(span, 120)
	var wantAccepted, wantThrottled, wantFailed int
	for _, r := range runs {
		s := bucketize(r.events, width, span)
		for i := range s.accepted {
			wantAccepted += min(1, s.accepted[i])
			wantThrottled += min(1, s.throttled[i])
			wantFailed += min(1, s.failed[i])
		}
	}
	dom := string(runChromium(t, bin, "--dump-dom", "file://"+path))
	for _, c := range []struct {
		class string
		want  int
	}{
		{`<rect class="accepted"`, wantAccepted},
		{`<rect class="throttled"`, wantThrottled},
		{`<rect class="failed"`, wantFailed},
		{`<line class="limit"`, len(runs)},
		{`<svg`, len(runs)},
	} {
		if got := strings.Count(dom, c.class); got != c.want {
			t.Errorf("the browser's DOM has %d %s, want %d", got, c.class, c.want)
		}
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	runChromium(t, bin, "--window-size=980,1400", "--screenshot="+shot, "file://"+path)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	green, red := countColor(img, 0x2e, 0x7d, 0x32), countColor(img, 0xd3, 0x2f, 0x2f)
	if green < 5000 || red < 100 {
		t.Errorf("screenshot has %d green (accepted) and %d red (429) pixels; the chart was not painted", green, red)
	}
}

// countColor counts the pixels within a small distance of the colour.
func countColor(img image.Image, r, g, b uint8) int {
	n := 0
	near := func(a uint32, want uint8) bool { d := int(a>>8) - int(want); return d > -12 && d < 12 }
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
