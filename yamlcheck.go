package sluice

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// yamlCheck walks a YAML document against the fields of a Go type and
// reports every unknown field and every value of the wrong type at once,
// each a *ConfigError with its YAML path and line (yaml.v3 stops at its
// own wording, "field retyr not found in type sluice.Route", without the
// path). lines maps each path seen to its line, for Validate's errors.
type yamlCheck struct {
	errs  []error
	lines map[string]int
}

func (c *yamlCheck) add(path string, line int, format string, args ...any) {
	c.errs = append(c.errs, &ConfigError{Field: path, Line: line, Problem: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeOf(time.Duration(0))

// walk checks n against t at path.
func (c *yamlCheck) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		if _, seen := c.lines[path]; !seen {
			c.lines[path] = n.Line
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.add(path, n.Line, "must be a mapping of %s's fields, not %s", t.Name(), describe(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			ft, ok := fields[k.Value]
			if !ok {
				c.add(p, k.Line, "unknown field%s; %s takes %s", suggest(k.Value, fields), where(path), strings.Join(sortedKeys(fields), ", "))
				continue
			}
			c.walk(v, ft, p)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		if n.Kind != yaml.SequenceNode {
			c.add(path, n.Line, "must be a list, not %s", describe(n))
			return
		}
		for i, item := range n.Content {
			c.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.Map || t.Kind() == reflect.Interface:
		// Not part of Config's YAML schema; the decoder has the last word.
	default:
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.add(path, n.Line, "%s", leafProblem(n, t))
		}
	}
}

// leafProblem says what is wrong with a scalar that does not decode as t.
func leafProblem(n *yaml.Node, t reflect.Type) string {
	if n.Kind != yaml.ScalarNode {
		return fmt.Sprintf("must be a single value, not %s", describe(n))
	}
	v := fmt.Sprintf("%q", n.Value)
	switch {
	case t == durationType:
		return v + " is not a duration: write a number with a unit (500ms, 30s, 5m, 1h)"
	case t.Kind() == reflect.Bool:
		return v + " is not true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return v + " is not a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return v + " is not a number"
	}
	return fmt.Sprintf("%s does not fit a %s", v, t)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// yamlFields maps the YAML keys of struct t (inline fields included) to
// their types; fields tagged "-" are left out.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest returns ` (did you mean "x"?)` for the known key closest to k,
// when it is close (an edit distance of at most 2, or a third of k).
func suggest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 1<<30
	for _, f := range sortedKeys(fields) {
		if d := editDistance(strings.ToLower(k), f); d < bestD {
			best, bestD = f, d
		}
	}
	if best == "" || bestD > max(2, len(k)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, with a
// transposition of adjacent letters counted as one edit.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
