package httpcache

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func storedEntry(t *testing.T, kv ...string) *Entry {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	resp := &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("body"))}
	e, _, err := Snapshot(resp, time.Hour, time.Unix(1000, 0), 1<<20)
	if err != nil || e == nil {
		t.Fatalf("Snapshot = %v, %v", e, err)
	}
	return e
}

func TestMatches304(t *testing.T) {
	tests := []struct {
		name   string
		stored []string
		got    http.Header
		want   bool
	}{
		{"same etag", []string{"Etag", `"a"`}, http.Header{"Etag": {`"a"`}}, true},
		{"weak and strong", []string{"Etag", `W/"a"`}, http.Header{"Etag": {`"a"`}}, true},
		{"other etag", []string{"Etag", `"a"`}, http.Header{"Etag": {`"b"`}}, false},
		{"no validator in 304", []string{"Etag", `"a"`}, http.Header{}, true},
		{"other last-modified", []string{"Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"}, http.Header{"Last-Modified": {"Tue, 02 Jan 2024 00:00:00 GMT"}}, false},
	}
	for _, tc := range tests {
		if got := storedEntry(t, tc.stored...).Matches304(tc.got); got != tc.want {
			t.Errorf("%s: Matches304 = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRefreshMergesHeader(t *testing.T) {
	e := storedEntry(t, "Etag", `"a"`, "Cache-Control", "max-age=10", "X-Old", "1", "Content-Length", "4", "Keep-Alive", "x")
	now := time.Unix(2000, 0)
	n := e.Refresh(http.Header{"Cache-Control": {"max-age=60"}, "X-Old": {"2"}, "Content-Length": {"0"},
		"Connection": {"X-Hop"}, "X-Hop": {"h"}, "Keep-Alive": {"y"}}, time.Hour, now)
	h := n.Header()
	if h.Get("X-Old") != "2" || h.Get("Content-Length") != "4" || h.Get("X-Hop") != "" || h.Get("Keep-Alive") != "x" {
		t.Fatalf("merged header %v: want X-Old 2, the stored Content-Length and Keep-Alive, no Connection-named field", h)
	}
	if !n.Fresh(now.Add(59*time.Second)) || n.Fresh(now.Add(61*time.Second)) || string(n.Body()) != "body" {
		t.Fatalf("refreshed entry: want fresh for the 304's max-age=60 with the stored body")
	}
	if e.Header().Get("X-Old") != "1" {
		t.Fatalf("Refresh changed the original entry")
	}
}

func TestStoreLookupVariants(t *testing.T) {
	c, _ := New(Options{})
	req := func(lang string) *http.Request {
		r, _ := http.NewRequest("GET", "https://api.example.com/x", nil)
		r.Header.Set("Accept-Language", lang)
		return r
	}
	en, fr := req("en"), req("fr")
	base := Key(en, nil)
	c.Store(base, en, storedEntry(t, "Vary", "accept-language", "X-Lang", "en"))
	c.Store(base, fr, storedEntry(t, "Vary", "Accept-Language", "X-Lang", "fr"))
	for _, r := range []*http.Request{en, fr} {
		e, _, ok := c.Lookup(base, r)
		if !ok || e.Header().Get("X-Lang") != r.Header.Get("Accept-Language") {
			t.Fatalf("Lookup for %s: ok %v, entry %v", r.Header.Get("Accept-Language"), ok, e)
		}
	}
	if _, _, ok := c.Lookup(base, req("de")); ok {
		t.Fatalf("Lookup found a variant for an Accept-Language never stored")
	}
}

func TestNoCacheStoredOnlyWithValidator(t *testing.T) {
	tests := []struct {
		hdr  []string
		want bool
	}{
		{[]string{"Cache-Control", "no-cache"}, false},
		{[]string{"Cache-Control", "no-cache", "Etag", `"a"`}, true},
		{[]string{"Cache-Control", "no-store", "Etag", `"a"`}, false},
		{[]string{"Cache-Control", "max-age=0", "Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"}, true},
	}
	for _, tc := range tests {
		h := http.Header{}
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			h.Add(tc.hdr[i], tc.hdr[i+1])
		}
		resp := &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("b"))}
		stored := Storable(resp)
		if stored {
			e, _, _ := Snapshot(resp, time.Hour, time.Unix(1000, 0), 1<<20)
			stored = e != nil && !e.Fresh(time.Unix(1000, 0))
		}
		if stored != tc.want {
			t.Errorf("%v: stored (stale at once) = %v, want %v", tc.hdr, stored, tc.want)
		}
	}
}
