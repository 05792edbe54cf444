package proxy

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/limit"
)

// TestSharesConfig: consumers' share, weight and per-route overrides load
// strictly from YAML, bad values are refused naming the field, and the
// shares the pipeline gets follow the overrides.
func TestSharesConfig(t *testing.T) {
	const head = "routes:\n  - {name: github, match: {host: api.github.com}, limits: [{rate: 50/s}]}\n  - {name: openai, match: {host: api.openai.com}}\nproxy:\n"
	cases := []struct {
		name, yaml, wantErr string
	}{
		{"good", `  consumers:
    - {name: batch, token_env: B, share: 0.3, weight: 1, routes: {openai: {share: 1, weight: 2}}}
    - {name: web, token_env: W, weight: 3}`, ""},
		{"share over 1", "  consumers: [{name: batch, token_env: B, share: 1.5}]", "proxy.consumers[0].share: 1.5 must be a fraction"},
		{"negative weight", "  consumers: [{name: batch, token_env: B, weight: -1}]", "proxy.consumers[0].weight: -1 must be a positive weight"},
		{"unknown route", "  consumers: [{name: batch, token_env: B, routes: {gitlab: {share: 0.5}}}]", `proxy.consumers[0].routes.gitlab: no pipeline route is named "gitlab" (routes: github, openai)`},
		{"route share over 1", "  consumers: [{name: batch, token_env: B, routes: {github: {share: 2}}}]", "proxy.consumers[0].routes.github.share: 2 must be a fraction"},
		{"shares without fair queuing", "  fair_queuing: false\n  consumers: [{name: batch, token_env: B, share: 0.5}]", "share, weight and routes need fair queuing"},
		{"unknown field", "  consumers: [{name: batch, token_env: B, shares: 0.5}]", "field shares not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(head + c.yaml + "\n"))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.fair() {
				t.Error("fair queuing off with two consumers")
			}
			batch, web := cfg.Consumers[0], cfg.Consumers[1]
			for _, s := range []struct {
				got, want limit.Share
			}{
				{batch.shares("github"), limit.Share{Weight: 1, Cap: 0.3}},
				{batch.shares("openai"), limit.Share{Weight: 2}}, // share 1: no cap
				{web.shares("github"), limit.Share{Weight: 3}},
			} {
				if s.got != s.want {
					t.Errorf("share %+v, want %+v", s.got, s.want)
				}
			}
		})
	}
	off := Config{Consumers: []Consumer{{Name: "a", TokenEnv: "A"}}}
	if off.fair() {
		t.Error("fair queuing on with one consumer and no shares")
	}
}

// TestConsumerShare: on a 20/s route, alice capped at 0.25 gets about
// 5/s even though the route could serve her faster, bob is not held behind
// her backlog, and alice's request that her cap cannot serve within its
// Sluice-Max-Wait gets 429 consumer_share with Retry-After, RateLimit
// fields for her part of the route and a problem naming her share.
func TestConsumerShare(t *testing.T) {
	r := newRig(t, func(c *Config, _ string) {
		c.Pipeline.Routes[0].Limits = []sluice.LimitConfig{{Rate: "20/s", Burst: 1}}
		c.Consumers[0].Share = 0.25
	})
	get := func(tok, wait string) (int, *http.Response) {
		req, _ := http.NewRequest("GET", r.srv.URL+"/prov/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Sluice-Max-Wait", wait)
		resp, err := r.srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		return resp.StatusCode, resp
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var aliceCodes []int
	var aliceDone time.Time
	for range 6 {
		wg.Go(func() {
			code, resp := get(aliceToken, "10s")
			if resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			aliceCodes = append(aliceCodes, code)
			aliceDone = time.Now()
			mu.Unlock()
		})
	}
	time.Sleep(50 * time.Millisecond)
	bobStart := time.Now()
	for range 5 {
		if code, resp := get(bobToken, "10s"); code != 200 {
			t.Errorf("bob: status %d", code)
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	bobTook := time.Since(bobStart)

	code, resp := get(aliceToken, "100ms")
	if code != 429 {
		t.Fatalf("alice over her share: status %d, want 429", code)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Retry-After") == "" || !strings.Contains(resp.Header.Get("RateLimit-Policy"), `"prov/alice";q=5;w=1`) ||
		!strings.Contains(resp.Header.Get("RateLimit"), `"prov/alice";r=0`) {
		t.Errorf("headers %v", resp.Header)
	}
	if p := problemOf(t, resp); p.Reason != "consumer_share" || p.Consumer != "alice" || p.Share != 0.25 || p.Route != "prov" || p.RetryAfter <= 0.1 {
		t.Errorf("problem %+v", p)
	}
	wg.Wait()
	aliceTook := aliceDone.Sub(start)
	t.Logf("alice (share 0.25 of 20/s): 6 requests in %v; bob (no cap): 5 in %v", aliceTook, bobTook)
	for _, c := range aliceCodes {
		if c != 200 {
			t.Errorf("alice codes %v, want all 200", aliceCodes)
			break
		}
	}
	// At 5/s with a burst of 1, alice's sixth request is due 1 s after her
	// first; uncapped, the route would serve all six in 0.25 s.
	if aliceTook < 900*time.Millisecond {
		t.Errorf("alice's 6 requests done in %v; her cap (5/s) allows no less than 1 s", aliceTook)
	}
	if bobTook > 700*time.Millisecond {
		t.Errorf("bob's 5 requests took %v behind alice's backlog; the route (20/s) allows 250ms", bobTook)
	}
	if !strings.Contains(r.log(), `"reason":"consumer_share"`) {
		t.Error("no access-log line with reason consumer_share")
	}
}

// interactiveThroughProxy has alice keep 100 requests queued on a 50/s
// burst-10 route while bob sends one request every 250ms for 3 s, and
// returns bob's latencies, sorted. Bob does not wait for one answer
// before the next request.
func interactiveThroughProxy(t *testing.T, fair bool) []time.Duration {
	r := newRig(t, func(c *Config, _ string) {
		c.Pipeline.Routes[0].Limits = []sluice.LimitConfig{{Rate: "50/s", Burst: 10}}
		c.FairQueuing = &fair
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", r.srv.URL+"/prov/batch", nil)
				req.Header.Set("Authorization", "Bearer "+aliceToken)
				if resp, err := r.srv.Client().Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // the backlog builds
	lat := make([]time.Duration, 12)
	var bob sync.WaitGroup
	for i := range lat {
		time.Sleep(250 * time.Millisecond)
		bob.Go(func() {
			start := time.Now()
			code := 0
			req, _ := http.NewRequest("GET", r.srv.URL+"/prov/web", nil)
			req.Header.Set("Authorization", "Bearer "+bobToken)
			resp, err := r.srv.Client().Do(req)
			if err == nil {
				code = resp.StatusCode
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if code != 200 {
				t.Errorf("bob: %d %v", code, err)
			}
			lat[i] = time.Since(start)
		})
	}
	bob.Wait()
	cancel()
	wg.Wait()
	slices.Sort(lat)
	return lat
}

// TestFairnessThroughProxy: behind 100 queued requests of a greedy
// consumer on a 50/s route (2 s of backlog), an interactive consumer's
// requests take about two intervals with fair queuing; without it they
// wait for the backlog. Both runs are logged (docs/benchmarks.md).
func TestFairnessThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("about 10 s of real time")
	}
	fifo := interactiveThroughProxy(t, false)
	fair := interactiveThroughProxy(t, true)
	p := func(ds []time.Duration, q float64) time.Duration {
		return ds[min(len(ds)-1, int(float64(len(ds))*q))].Round(time.Millisecond)
	}
	t.Logf("interactive latency behind 100 queued batch requests, 50/s burst 10: fair_queuing off p50 %v p99 %v; on p50 %v p99 %v",
		p(fifo, 0.5), p(fifo, 0.99), p(fair, 0.5), p(fair, 0.99))
	if got := p(fair, 0.99); got > 300*time.Millisecond {
		t.Errorf("fair queuing: interactive p99 %v, want <= 300ms (two intervals are 40ms)", got)
	}
	if got := p(fifo, 0.5); got < time.Second {
		t.Errorf("without fair queuing: interactive p50 %v; the baseline should show the 2 s backlog", got)
	}
}
