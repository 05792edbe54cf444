package httpcache

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)} }
func mustCache(t testing.TB, o Options) *Cache {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// entry returns an entry with a body of n bytes, fresh for ttl from now.
func entry(t testing.TB, n int, ttl time.Duration, now time.Time) *Entry {
	t.Helper()
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: bodyOf(strings.Repeat("x", n))}
	e, _, err := Snapshot(resp, ttl, now, 1<<30)
	if err != nil || e == nil {
		t.Fatalf("Snapshot: %v, %v", e, err)
	}
	return e
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		o    Options
		want string
	}{
		{Options{}, ""},
		{Options{MaxEntries: -1}, "httpcache: MaxEntries -1 must not be negative"},
		{Options{MaxBytes: -5}, "httpcache: MaxBytes -5 must not be negative"},
	}
	for _, tt := range tests {
		c, err := New(tt.o)
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("New(%+v) error = %v, want %q", tt.o, err, tt.want)
		}
		if tt.want == "" && (c.MaxEntryBytes() != DefaultMaxBytes/8 || c.maxEntries != DefaultMaxEntries) {
			t.Errorf("defaults not applied: %d entries, %d max entry bytes", c.maxEntries, c.MaxEntryBytes())
		}
	}
}

func TestLRUEntryBound(t *testing.T) {
	clk := newClock()
	c := mustCache(t, Options{MaxEntries: 3, Now: clk.now})
	for _, k := range []string{"a", "b", "c"} {
		c.Put(k, entry(t, 10, time.Minute, clk.t))
	}
	c.Get("a") // a is now the most recent; b the least
	c.Put("d", entry(t, 10, time.Minute, clk.t))
	want := map[string]bool{"a": true, "b": false, "c": true, "d": true}
	for k, in := range want {
		if _, _, ok := c.Get(k); ok != in {
			t.Errorf("Get(%q) ok = %v, want %v", k, ok, in)
		}
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
}

func TestLRUByteBound(t *testing.T) {
	clk := newClock()
	one := entry(t, 1000, time.Minute, clk.t)
	per := one.Size() + 1 // a one-byte key
	c := mustCache(t, Options{MaxBytes: 3 * per, Now: clk.now})
	for _, k := range []string{"a", "b", "c"} {
		c.Put(k, one)
	}
	if c.Bytes() != 3*per || c.Len() != 3 {
		t.Fatalf("Bytes = %d, Len = %d, want %d and 3", c.Bytes(), c.Len(), 3*per)
	}
	// An entry twice as big pushes out the two least recent.
	c.Put("d", entry(t, 1000+int(per), time.Minute, clk.t))
	for k, in := range map[string]bool{"a": false, "b": false, "c": true, "d": true} {
		if _, _, ok := c.Get(k); ok != in {
			t.Errorf("Get(%q) ok = %v, want %v", k, ok, in)
		}
	}
	if c.Bytes() > 3*per {
		t.Errorf("Bytes = %d over the bound %d", c.Bytes(), 3*per)
	}
	// Replacing an entry recounts its bytes.
	c.Put("c", entry(t, 10, time.Minute, clk.t))
	if want := entry(t, 10, 1, clk.t).Size() + 1 + entry(t, 1000+int(per), 1, clk.t).Size() + 1; c.Bytes() != want {
		t.Errorf("Bytes after replace = %d, want %d", c.Bytes(), want)
	}
	// Too big for the whole cache: not stored, and the old entry goes.
	c.Put("c", entry(t, int(3*per), time.Minute, clk.t))
	if _, _, ok := c.Get("c"); ok {
		t.Error("an entry larger than MaxBytes was stored or the old one kept")
	}
	c.Delete("d")
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Errorf("after removing all: Len %d Bytes %d", c.Len(), c.Bytes())
	}
	c.Put("x", nil) // ignored
	if c.Len() != 0 {
		t.Error("Put of nil stored something")
	}
}

func TestFreshnessAndStale(t *testing.T) {
	clk := newClock()
	c := mustCache(t, Options{Now: clk.now})
	c.Put("k", entry(t, 1, 10*time.Second, clk.t))
	steps := []struct {
		at        time.Duration // since the Put
		fresh, ok bool
		stale30s  bool
		stale5s   bool
	}{
		{0, true, true, true, true},
		{10*time.Second - 1, true, true, true, true},
		{10 * time.Second, false, true, true, true},
		{15*time.Second - 1, false, true, true, true},
		{15 * time.Second, false, true, true, false},
		{40*time.Second - 1, false, true, true, false},
		{40 * time.Second, false, true, false, false},
	}
	start := clk.t
	for _, s := range steps {
		clk.t = start.Add(s.at)
		_, fresh, ok := c.Get("k")
		_, st30 := c.GetStale("k", 30*time.Second)
		_, st5 := c.GetStale("k", 5*time.Second)
		if fresh != s.fresh || ok != s.ok || st30 != s.stale30s || st5 != s.stale5s {
			t.Errorf("at +%v: fresh %v ok %v stale30 %v stale5 %v, want %v %v %v %v",
				s.at, fresh, ok, st30, st5, s.fresh, s.ok, s.stale30s, s.stale5s)
		}
	}
	if _, ok := c.GetStale("missing", time.Hour); ok {
		t.Error("GetStale of a missing key")
	}
}
