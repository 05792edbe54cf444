package sluice

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func cacheConfig(c CacheConfig) Config {
	return Config{Routes: []Route{{Name: "api", Match: Match{Host: "api.example.com"},
		Policy: Policy{Cache: &c, Retry: &RetryConfig{MaxAttempts: 1}}}}}
}

func TestCacheSeparatesCredentials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(int, *http.Request) (*http.Response, error) { return reply(200), nil }}
		tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Minute}), s)
		const u = "https://api.example.com/repos?b=2&a=1"
		steps := []struct {
			hdr       []string
			url       string
			upstreams int
		}{
			{[]string{"Authorization", "Bearer alice"}, u, 1},
			{[]string{"Authorization", "Bearer alice"}, u, 1},                                       // hit
			{[]string{"Authorization", "Bearer alice"}, "https://api.example.com/repos?a=1&b=2", 1}, // same, canonical query
			{[]string{"Authorization", "Bearer bob"}, u, 2},                                         // other credential
			{[]string{"X-Api-Key", "k1"}, u, 3},
			{[]string{"X-Api-Key", "k2"}, u, 4},
			{[]string{"X-Api-Key", "k1"}, u, 4}, // hit
			{nil, u + "&api_key=q1", 5},
			{nil, u + "&api_key=q2", 6},
		}
		for i, st := range steps {
			if _, err := do(tr, "GET", st.url, "", st.hdr...); err != nil {
				t.Fatal(err)
			}
			if s.n() != st.upstreams {
				t.Fatalf("step %d: upstream saw %d requests, want %d", i, s.n(), st.upstreams)
			}
		}
		rs, _ := tr.Stats().Route("api")
		if rs.CacheHits != 3 {
			t.Fatalf("CacheHits = %d, want 3", rs.CacheHits)
		}
	})
}

func TestCacheHonoursNoStoreAndTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(int, *http.Request) (*http.Response, error) { return reply(200), nil }}
		tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Minute}), s)
		const u = "https://api.example.com/x"
		do(tr, "GET", u, "", "Cache-Control", "no-store")
		do(tr, "GET", u, "", "Cache-Control", "no-store")
		if s.n() != 2 {
			t.Fatalf("no-store requests: upstream saw %d, want 2", s.n())
		}
		do(tr, "GET", u, "")
		do(tr, "GET", u, "")
		if s.n() != 3 {
			t.Fatalf("upstream saw %d, want 3 (one miss, one hit)", s.n())
		}
		time.Sleep(time.Minute + time.Second)
		do(tr, "GET", u, "")
		if s.n() != 4 {
			t.Fatalf("after the TTL upstream saw %d, want 4", s.n())
		}
	})
}

func TestStaleIfError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		down := false
		s := &script{answer: func(int, *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return reply(503), nil
			}
			return reply(200), nil
		}}
		tr := newTestTransport(t, cacheConfig(CacheConfig{TTL: time.Second, StaleIfError: time.Hour}), s)
		const u = "https://api.example.com/x"
		do(tr, "GET", u, "")
		mu.Lock()
		down = true
		mu.Unlock()
		time.Sleep(2 * time.Second)
		req, _ := http.NewRequest("GET", u, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("stale-if-error returned %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != `{"ok":true}` || resp.Header.Get("Warning") == "" {
			t.Fatalf("got %d %q Warning=%q; want the stale 200 marked with a Warning", resp.StatusCode, body, resp.Header.Get("Warning"))
		}
		rs, _ := tr.Stats().Route("api")
		if rs.CacheStale != 1 {
			t.Fatalf("CacheStale = %d, want 1", rs.CacheStale)
		}
	})
}

func TestCoalescing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := &script{answer: func(int, *http.Request) (*http.Response, error) {
			<-release
			return reply(200), nil
		}}
		on := true
		tr := newTestTransport(t, Config{Defaults: Policy{Coalesce: &on}}, s)
		const n = 10
		var wg sync.WaitGroup
		bodies := make([]string, n)
		for i := range n {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", "https://api.example.com/same", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				bodies[i] = string(b)
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		if s.n() != 1 {
			t.Fatalf("%d concurrent identical GETs made %d upstream requests, want 1", n, s.n())
		}
		for i, b := range bodies {
			if b != `{"ok":true}` {
				t.Fatalf("caller %d got body %q", i, b)
			}
		}
		rs, _ := tr.Stats().Route("default:api.example.com")
		if rs.Coalesced != n-1 {
			t.Fatalf("Coalesced = %d, want %d", rs.Coalesced, n-1)
		}
	})
}
