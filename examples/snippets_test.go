// Package examples holds runnable programs that use real SDKs through
// sluice; see docs/sdks.md. This file checks that the page's snippets are
// still the programs' code.
package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goBlock is a fenced Go block in Markdown.
var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

// sdkCall marks a README block that shows an SDK, which must then be
// example code too.
var sdkCall = regexp.MustCompile(`\b(github|openai|anthropic|stripe|option|itemsapi)\.[A-Z]`)

// trimLines drops trailing white space from every line.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return strings.Join(lines, "\n")
}

func TestDocSnippetsAreExampleCode(t *testing.T) {
	var sources []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		sources = append(sources, trimLines(string(b)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []struct {
		path string
		all  bool // every Go block, or only those that show an SDK
	}{{"../docs/sdks.md", true}, {"../README.md", false}} {
		b, err := os.ReadFile(doc.path)
		if err != nil {
			t.Fatal(err)
		}
		blocks := goBlock.FindAllStringSubmatch(string(b), -1)
		checked := 0
		for _, m := range blocks {
			snippet := trimLines(strings.TrimRight(m[1], "\n"))
			if !doc.all && !sdkCall.MatchString(snippet) {
				continue
			}
			checked++
			found := false
			for _, src := range sources {
				if strings.Contains(src, snippet) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: this snippet is not in any program under examples/ (copy it from there):\n%s", doc.path, snippet)
			}
		}
		if doc.all && checked == 0 {
			t.Errorf("%s: no Go snippet found", doc.path)
		}
		t.Logf("%s: %d snippets checked", doc.path, checked)
	}
}
