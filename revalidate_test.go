package sluice

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// origin is a scripted upstream that serves versioned representations with
// ETags and answers matching conditional requests with 304.
type origin struct {
	mu      sync.Mutex
	version map[string]string // path -> current ETag
	header  []string          // extra header pairs on every 200 and 304
	status  int               // when not 0, every answer has this status
	seen    []http.Header     // request headers, in order
}

func (o *origin) RoundTrip(req *http.Request) (*http.Response, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, req.Header.Clone())
	if o.status != 0 {
		return reply(o.status), nil
	}
	et := o.version[req.URL.Path]
	if et == "" {
		et = `"v1"`
	}
	h := http.Header{"Etag": {et}}
	for i := 0; i+1 < len(o.header); i += 2 {
		h.Add(o.header[i], o.header[i+1])
	}
	if req.Header.Get("If-None-Match") == et {
		return &http.Response{StatusCode: 304, Status: "304 Not Modified", Header: h, Body: http.NoBody}, nil
	}
	body := "body " + et + " " + req.Header.Get("Accept-Language")
	h.Set("Content-Length", "99")
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(body))}, nil
}

func (o *origin) set(fn func(o *origin)) { o.mu.Lock(); fn(o); o.mu.Unlock() }

func (o *origin) requests() []http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]http.Header(nil), o.seen...)
}

// get sends a GET and returns the status, body and header; on an error,
// status 0 and the error's text.
func get(t *testing.T, tr http.RoundTripper, url string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), resp.Header
}

func TestRevalidate304MergesHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &origin{header: []string{"Cache-Control", "max-age=60", "X-Rev", "1"}}
		tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Hour}), o)
		const u = "https://api.example.com/r"
		get(t, tr, u)
		time.Sleep(61 * time.Second)
		o.set(func(o *origin) {
			o.header = []string{"Cache-Control", "max-age=60", "X-Rev", "2", "Content-Length", "0"}
		})
		st, body, h := get(t, tr, u)
		seen := o.requests()
		if len(seen) != 2 || seen[1].Get("If-None-Match") != `"v1"` {
			t.Fatalf("upstream saw %d requests, second If-None-Match %q; want a conditional revalidation", len(seen), seen[len(seen)-1].Get("If-None-Match"))
		}
		if st != 200 || body != `body "v1" ` || h.Get("X-Rev") != "2" || h.Get("Content-Length") != "99" || h.Get("X-Sluice-Cache") != "revalidated" {
			t.Fatalf("after 304 got %d %q X-Rev=%q Content-Length=%q X-Sluice-Cache=%q; want the stored 200 body with the 304's X-Rev, the stored Content-Length",
				st, body, h.Get("X-Rev"), h.Get("Content-Length"), h.Get("X-Sluice-Cache"))
		}
		// The refreshed entry is fresh again for the 304's max-age.
		time.Sleep(30 * time.Second)
		if _, _, h := get(t, tr, u); h.Get("X-Sluice-Cache") != "hit" || h.Get("X-Rev") != "2" {
			t.Fatalf("after the refresh got X-Sluice-Cache=%q X-Rev=%q, want a hit with the merged header", h.Get("X-Sluice-Cache"), h.Get("X-Rev"))
		}
		rs, _ := tr.Stats().Route("api")
		if rs.NotModified != 1 || rs.CacheHits != 1 || len(o.requests()) != 2 {
			t.Fatalf("NotModified=%d CacheHits=%d upstream=%d, want 1, 1, 2", rs.NotModified, rs.CacheHits, len(o.requests()))
		}
	})
}

func TestRevalidateChangedRepresentation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &origin{header: []string{"Cache-Control", "max-age=10"}}
		tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Hour}), o)
		const u = "https://api.example.com/r"
		get(t, tr, u)
		time.Sleep(11 * time.Second)
		o.set(func(o *origin) { o.version = map[string]string{"/r": `"v2"`} })
		if _, body, _ := get(t, tr, u); body != `body "v2" ` {
			t.Fatalf("changed resource: got %q, want the new body", body)
		}
		if _, body, h := get(t, tr, u); body != `body "v2" ` || h.Get("X-Sluice-Cache") != "hit" {
			t.Fatalf("got %q (%q), want the new body from the cache", body, h.Get("X-Sluice-Cache"))
		}
	})
}

func TestVaryKeepsVariants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &origin{header: []string{"Cache-Control", "max-age=60", "Vary", "Accept-Language"}}
		tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Hour}), o)
		const u = "https://api.example.com/r"
		for range 2 {
			for _, lang := range []string{"en", "fr"} {
				if _, body, _ := get(t, tr, u, "Accept-Language", lang); body != `body "v1" `+lang {
					t.Fatalf("Accept-Language %s: got %q, another variant's body", lang, body)
				}
			}
		}
		if n := len(o.requests()); n != 2 {
			t.Fatalf("two variants fetched twice each made %d upstream requests, want 2", n)
		}
	})
}

func TestNoCacheRevalidatesEveryUse(t *testing.T) {
	tests := []struct {
		name    string
		resp    []string // response header pairs
		req     []string // request header pairs
		wantCnd bool     // the second request is conditional
	}{
		{"response no-cache", []string{"Cache-Control", "no-cache"}, nil, true},
		{"request no-cache", []string{"Cache-Control", "max-age=60"}, []string{"Cache-Control", "no-cache"}, true},
		{"request max-age=0", []string{"Cache-Control", "max-age=60"}, []string{"Cache-Control", "max-age=0"}, true},
		{"fresh", []string{"Cache-Control", "max-age=60"}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := &origin{header: tc.resp}
				tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Hour}), o)
				const u = "https://api.example.com/r"
				get(t, tr, u)
				_, body, _ := get(t, tr, u, tc.req...)
				seen := o.requests()
				cond := len(seen) == 2 && seen[1].Get("If-None-Match") == `"v1"`
				if cond != tc.wantCnd || body != `body "v1" ` {
					t.Fatalf("upstream saw %d requests (conditional %v), body %q; want conditional %v and the stored body", len(seen), cond, body, tc.wantCnd)
				}
			})
		})
	}
}

func TestStaleIfErrorAndMustRevalidate(t *testing.T) {
	tests := []struct {
		name      string
		resp      []string
		wantStale bool
	}{
		{"failed revalidation serves stale", []string{"Cache-Control", "max-age=1"}, true},
		{"must-revalidate", []string{"Cache-Control", "max-age=1, must-revalidate"}, false},
		{"no-cache", []string{"Cache-Control", "no-cache"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := &origin{header: tc.resp}
				tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Hour, StaleIfError: time.Hour}), o)
				const u = "https://api.example.com/r"
				get(t, tr, u)
				time.Sleep(2 * time.Second)
				o.set(func(o *origin) { o.status = 503 })
				st, _, h := get(t, tr, u)
				if stale := st == 200 && h.Get("X-Sluice-Cache") == "stale"; stale != tc.wantStale {
					t.Fatalf("upstream 503: got %d X-Sluice-Cache=%q; want stale %v", st, h.Get("X-Sluice-Cache"), tc.wantStale)
				}
				if seen := o.requests(); seen[1].Get("If-None-Match") != `"v1"` {
					t.Fatalf("the failed request was not a conditional revalidation")
				}
			})
		})
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		o := &origin{header: []string{"Cache-Control", "max-age=1, stale-while-revalidate=30"}}
		gate := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Header.Get("If-None-Match") != "" {
				<-release
			}
			return o.RoundTrip(req)
		})
		tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Hour}), gate)
		const u = "https://api.example.com/r"
		get(t, tr, u)
		time.Sleep(2 * time.Second)
		// Within the window: served at once, stale, while one background
		// revalidation runs for all of them.
		for range 5 {
			if st, _, h := get(t, tr, u); st != 200 || h.Get("X-Sluice-Cache") != "stale" {
				t.Fatalf("inside the SWR window got %d X-Sluice-Cache=%q, want the stale entry at once", st, h.Get("X-Sluice-Cache"))
			}
		}
		synctest.Wait()
		close(release)
		synctest.Wait()
		if n := len(o.requests()); n != 2 {
			t.Fatalf("5 stale uses made %d upstream requests, want 2 (the fill and one background revalidation)", n)
		}
		if _, _, h := get(t, tr, u); h.Get("X-Sluice-Cache") != "hit" {
			t.Fatalf("after the background revalidation got X-Sluice-Cache=%q, want hit", h.Get("X-Sluice-Cache"))
		}
		// Past the window the revalidation is synchronous.
		time.Sleep(40 * time.Second)
		if _, _, h := get(t, tr, u); h.Get("X-Sluice-Cache") != "revalidated" {
			t.Fatalf("past the SWR window got X-Sluice-Cache=%q, want revalidated", h.Get("X-Sluice-Cache"))
		}
		rs, _ := tr.Stats().Route("api")
		if rs.StaleWhileRevalidate != 5 || rs.NotModified != 2 {
			t.Fatalf("StaleWhileRevalidate=%d NotModified=%d, want 5 and 2", rs.StaleWhileRevalidate, rs.NotModified)
		}
	})
}

func TestRevalidationKeepsCredentialsApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &origin{header: []string{"Cache-Control", "max-age=1"}}
		tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Hour}), o)
		const u = "https://api.example.com/r"
		get(t, tr, u, "Authorization", "Bearer alice")
		time.Sleep(2 * time.Second)
		get(t, tr, u, "Authorization", "Bearer bob")
		seen := o.requests()
		if len(seen) != 2 || seen[1].Get("If-None-Match") != "" {
			t.Fatalf("bob's first request was conditional on alice's entry (%q)", seen[1].Get("If-None-Match"))
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
