package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gregjones/httpcache"
	"github.com/redis/go-redis/v9"

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
	return runPollWith(t, name, workers, pollOpts{}, newClient)
}

// pollOpts varies the job: inStep starts every worker at the same instant
// (rather than 1 ms apart), so that they find the same entries stale at
// once; latency delays each of the provider's answers.
type pollOpts struct {
	inStep  bool
	latency time.Duration
}

func runPollWith(t *testing.T, name string, workers int, o pollOpts, newClient func(base http.RoundTripper) (*http.Client, func())) pollResult {
	var res pollResult
	res.name = name
	synctest.Test(t, func(t *testing.T) {
		vs := &versions{v: map[string]int{}, since: map[string][]time.Time{}}
		prov := sluicetest.NewProvider(sluicetest.Options{
			Dialect: sluicetest.DialectGitHub, Limit: sluicetest.FixedWindow(5000, time.Hour),
			ETags: true, FreeNotModified: true, Faults: sluicetest.Faults{Latency: o.latency},
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
			// Half a poll interval off the polls' instants: a change and a
			// poll at one fake instant would run in goroutine order, and
			// the figures would vary from run to run.
			select {
			case <-stop:
				return
			case <-time.After(pollEvery / 2):
			}
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
				if !o.inStep {
					time.Sleep(time.Duration(w) * time.Millisecond)
				}
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
	return sluiceClientWith(t, func(*sluice.Config) {})
}

// sluiceRedisClient makes each worker a Transport of its own (as a process
// would be) whose cache is the Redis store on rdb under prefix.
func sluiceRedisClient(t *testing.T, rdb redis.UniversalClient, prefix string) func(base http.RoundTripper) (*http.Client, func()) {
	return sluiceClientWith(t, func(c *sluice.Config) {
		c.Redis = &sluice.RedisConfig{Client: rdb}
		c.Cache = sluice.CacheLimits{Store: "redis", Prefix: prefix, Salt: []byte("the bench's shared secret salt")}
	})
}

// pollRedis returns a client of the Redis at SLUICE_TEST_REDIS (default
// 127.0.0.1:6379) or of a miniredis where nothing answers, and a unique
// key prefix, removed at the end. It must be made outside the synctest
// bubble, and sets no socket deadlines: they would be computed from the
// bubble's fake clock (the year 2000) and be long past in real time.
// Inside the bubble, a Transport waiting on Redis is not "durably blocked",
// so fake time simply stands still during each round trip.
func pollRedis(t *testing.T) (redis.UniversalClient, string, string) {
	addr := os.Getenv("SLUICE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	kind := "real Redis at " + addr
	probe := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := probe.Ping(ctx).Err(); err != nil {
		addr, kind = miniredis.RunT(t).Addr(), "miniredis (no Redis at "+addr+")"
	}
	probe.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: -2, WriteTimeout: -2, PoolSize: 16, MaxRetries: -1})
	prefix := fmt.Sprintf("sluicebench:polling:%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := c.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	return c, prefix, kind
}

func sluiceClientWith(t *testing.T, edit func(*sluice.Config)) func(base http.RoundTripper) (*http.Client, func()) {
	return func(base http.RoundTripper) (*http.Client, func()) {
		cfg := sluice.Config{Routes: []sluice.Route{{
			Name: "github", Match: sluice.Match{Host: "api.github.test"},
			Policy: sluice.Policy{Cache: &sluice.CacheConfig{TTL: time.Hour}},
		}}}
		edit(&cfg)
		tr, err := sluice.NewTransport(cfg, base)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Transport: tr}, func() {
			if testing.Verbose() {
				rs, _ := tr.Stats().Route("github")
				t.Logf("sluice stats: hits %d misses %d 304s %d shared %d saved %d store errors %d attempts %d waited %v",
					rs.CacheHits, rs.CacheMisses, rs.NotModified, rs.CoalescedShared, rs.RequestsSaved, rs.CacheStoreErrors, rs.Attempts, rs.Waited)
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
	rdb, prefix, kind := pollRedis(t)
	t.Logf("redis store: %s", kind)
	slow := pollOpts{inStep: true, latency: 50 * time.Millisecond}
	results := []pollResult{
		runPoll(t, "no cache", 1, plain),
		runPoll(t, "gregjones/httpcache", 1, gj),
		runPoll(t, "sluice", 1, sluiceClient(t)),
		runPoll(t, "sluice, 4 workers", -4, sluiceClient(t)),
		runPoll(t, "sluice, 4 separate memory caches", 4, sluiceClient(t)),
		runPoll(t, "sluice, redis store, 4 workers", 4, sluiceRedisClient(t, rdb, prefix)),
		// The same workers in step, against a provider answering after
		// 50 ms: each finds the same entries stale at the same instant.
		runPollWith(t, "sluice, 50ms latency", 1, slow, sluiceClient(t)),
		runPollWith(t, "  4 separate memory caches, in step", 4, slow, sluiceClient(t)),
		runPollWith(t, "  redis store, 4 workers, in step", 4, slow, sluiceRedisClient(t, rdb, prefix+":slow")),
	}
	t.Logf("%-34s %6s %8s %6s %6s %7s %10s %7s", "client", "polls", "charged", "sent", "304s", "stale", "too stale", "failed")
	for _, r := range results {
		t.Logf("%-34s %6d %8d %6d %6d %7d %10d %7d", r.name, r.polls, r.charged, r.sent, r.notMod, r.stale, r.tooStale, r.failures)
	}
	best := min(results[0].charged, results[1].charged)
	s := results[2]
	if s.charged > best || s.tooStale > 0 || s.failures > 0 {
		t.Errorf("sluice charged %d (best other %d), served %d responses staler than max-age, %d failed", s.charged, best, s.tooStale, s.failures)
	}
	if w := results[3]; w.charged > s.charged || w.tooStale > 0 || w.failures > 0 {
		t.Errorf("4 workers sharing a cache charged %d (1 worker %d), %d too stale, %d failed", w.charged, s.charged, w.tooStale, w.failures)
	}
	for _, i := range []struct{ one, four int }{{2, 5}, {6, 8}} {
		one, w := results[i.one], results[i.four]
		if w.charged > one.charged || w.tooStale > 0 || w.failures > 0 {
			t.Errorf("%s: 4 Transports sharing a Redis store charged %d (1 worker %d), %d too stale, %d failed", w.name, w.charged, one.charged, w.tooStale, w.failures)
		}
	}
}
