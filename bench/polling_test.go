package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// The polling job: pollResources resources, each polled every pollEvery
// for pollFor of fake time, a tenth of them changing every changeEvery.
// The provider is GitHub-like: ETags, "Cache-Control: private,
// max-age=60", and 304s that are not charged.
const (
	pollResources = 100
	pollEvery     = 5 * time.Second
	pollFor       = 5 * time.Minute
	changeEvery   = 30 * time.Second
	pollMaxAge    = 60 * time.Second
)

// versions is the resources' current versions and when each began.
type versions struct {
	mu    sync.Mutex
	v     map[string]int
	since map[string][]time.Time // since[path][n]: when version n began
}

func (vs *versions) current(path string) int {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.v[path]
}

func (vs *versions) bump(p *sluicetest.Provider, path string) {
	vs.mu.Lock()
	vs.v[path]++
	vs.since[path] = append(vs.since[path], time.Now())
	vs.mu.Unlock()
	p.Touch(path)
}

// tooStale reports whether serving version n of path now breaks the
// max-age rule: the version after it began more than max-age ago.
func (vs *versions) tooStale(path string, n int) bool {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	s := vs.since[path]
	return n+1 < len(s) && time.Since(s[n+1]) > pollMaxAge
}

type pollResult struct {
	name                      string
	polls, charged, sent      int
	notMod                    int
	stale, tooStale, failures int
}

// runPoll runs the job with workers pollers, each polling every resource,
// through the client newClient returns for each worker; a negative workers
// means -workers pollers sharing one client (one Transport, one cache).
func runPoll(t *testing.T, name string, workers int, newClient func(base http.RoundTripper) (*http.Client, func())) pollResult {
	var res pollResult
	res.name = name
	synctest.Test(t, func(t *testing.T) {
		vs := &versions{v: map[string]int{}, since: map[string][]time.Time{}}
		prov := sluicetest.NewProvider(sluicetest.Options{
			Dialect: sluicetest.DialectGitHub, Limit: sluicetest.FixedWindow(5000, time.Hour),
			ETags: true, FreeNotModified: true,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "private, max-age=60")
				fmt.Fprintf(w, "%d", vs.current(r.URL.Path))
			}),
		})
		defer prov.Close()
		for i := range pollResources {
			path := fmt.Sprintf("/repos/o/r%d", i)
			vs.since[path] = []time.Time{time.Now()}
		}
		start := time.Now()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { // the content changes
			rng := rand.New(rand.NewPCG(1, 2))
			tk := time.NewTicker(changeEvery)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					for _, i := range rng.Perm(pollResources)[:pollResources/10] {
						vs.bump(prov, fmt.Sprintf("/repos/o/r%d", i))
					}
				}
			}
		})
		var mu sync.Mutex
		var sharedC *http.Client
		n := workers
		if workers < 0 {
			n = -workers
			var closeShared func()
			sharedC, closeShared = newClient(prov)
			defer closeShared()
		}
		for w := range n {
			c, done := sharedC, func() {}
			if c == nil {
				c, done = newClient(prov)
			}
			wg.Go(func() {
				defer done()
				time.Sleep(time.Duration(w) * time.Millisecond)
				for time.Since(start) < pollFor {
					for i := range pollResources {
						path := fmt.Sprintf("/repos/o/r%d", i)
						req, _ := http.NewRequest("GET", "https://api.github.test"+path, nil)
						req.Header.Set("Authorization", "Bearer token-1")
						mu.Lock()
						res.polls++
						mu.Unlock()
						resp, err := c.Do(req)
						if err != nil || resp.StatusCode != 200 {
							mu.Lock()
							res.failures++
							mu.Unlock()
							if err == nil {
								resp.Body.Close()
							}
							continue
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						var n int
						fmt.Sscan(strings.TrimSpace(string(b)), &n)
						mu.Lock()
						if n != vs.current(path) {
							res.stale++
							if vs.tooStale(path, n) {
								res.tooStale++
							}
						}
						mu.Unlock()
					}
					time.Sleep(pollEvery)
				}
			})
		}
		time.Sleep(pollFor + pollEvery)
		close(stop)
		wg.Wait()
		st := prov.Stats() // before the deferred Close of a shared client
		res.charged, res.sent, res.notMod = st.Accepted, st.Requests, st.NotModified
	})
	return res
}

func sluiceClient(t *testing.T) func(base http.RoundTripper) (*http.Client, func()) {
	return func(base http.RoundTripper) (*http.Client, func()) {
		tr, err := sluice.NewTransport(sluice.Config{Routes: []sluice.Route{{
			Name: "github", Match: sluice.Match{Host: "api.github.test"},
			Policy: sluice.Policy{Cache: &sluice.CacheConfig{TTL: time.Hour}},
		}}}, base)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Transport: tr}, func() {
			if testing.Verbose() {
				rs, _ := tr.Stats().Route("github")
				t.Logf("sluice stats: hits %d misses %d 304s %d saved %d attempts %d waited %v", rs.CacheHits, rs.CacheMisses, rs.NotModified, rs.RequestsSaved, rs.Attempts, rs.Waited)
			}
			tr.Close()
		}
	}
}

// TestPollingRevalidation runs the polling job through each client in one
// run and prints quota charged, requests sent, 304s and stale responses.
// go test -run TestPollingRevalidation -v ./ (in bench/)
func TestPollingRevalidation(t *testing.T) {
	plain := func(base http.RoundTripper) (*http.Client, func()) { return &http.Client{Transport: base}, func() {} }
	gj := func(base http.RoundTripper) (*http.Client, func()) {
		return &http.Client{Transport: &httpcache.Transport{Transport: base, Cache: httpcache.NewMemoryCache(), MarkCachedResponses: true}}, func() {}
	}
	results := []pollResult{
		runPoll(t, "no cache", 1, plain),
		runPoll(t, "gregjones/httpcache", 1, gj),
		runPoll(t, "sluice", 1, sluiceClient(t)),
		runPoll(t, "sluice, 4 workers", -4, sluiceClient(t)),
	}
	t.Logf("%-22s %6s %8s %6s %6s %7s %10s %7s", "client", "polls", "charged", "sent", "304s", "stale", "too stale", "failed")
	for _, r := range results {
		t.Logf("%-22s %6d %8d %6d %6d %7d %10d %7d", r.name, r.polls, r.charged, r.sent, r.notMod, r.stale, r.tooStale, r.failures)
	}
	best := min(results[0].charged, results[1].charged)
	s := results[2]
	if s.charged > best || s.tooStale > 0 || s.failures > 0 {
		t.Errorf("sluice charged %d (best other %d), served %d responses staler than max-age, %d failed", s.charged, best, s.tooStale, s.failures)
	}
	if w := results[3]; w.charged > s.charged || w.tooStale > 0 || w.failures > 0 {
		t.Errorf("4 workers sharing a cache charged %d (1 worker %d), %d too stale, %d failed", w.charged, s.charged, w.tooStale, w.failures)
	}
}
