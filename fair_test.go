package sluice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// TestSharesThroughTransport: with Config.Shares, a consumer capped at 0.3
// of a 50/s route gets at most 30% of it while another consumer takes the
// rest, and its request that cannot be served by its deadline is refused
// at once with a *RateLimitError of reason "consumer cap".
func TestSharesThroughTransport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var counts sync.Map
		s := &script{answer: func(_ int, r *http.Request) (*http.Response, error) {
			n, _ := counts.LoadOrStore(r.Header.Get("X-Who"), new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			return reply(200), nil
		}}
		cfg := Config{
			Routes: []Route{{Name: "api", Policy: Policy{Limits: []LimitConfig{{Rate: "50/s", Burst: 10}}}}},
			Shares: func(route, consumer string) limit.Share {
				if route == "api" && consumer == "batch" {
					return limit.Share{Cap: 0.3}
				}
				return limit.Share{}
			},
		}
		tr := newTestTransport(t, cfg, s)
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for _, who := range []string{"batch", "web"} {
			for range 8 {
				wg.Go(func() {
					cctx := limit.WithConsumer(ctx, who)
					for cctx.Err() == nil {
						req, _ := http.NewRequestWithContext(cctx, "GET", "https://api.example.com/x", nil)
						req.Header.Set("X-Who", who)
						resp, err := tr.RoundTrip(req)
						if err != nil {
							<-cctx.Done() // the end is near: no turn before it
							continue
						}
						drainClose(resp)
					}
				})
			}
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		// batch has 8 requests queued behind a 15/s cap: 100ms is too short.
		dctx, dcancel := context.WithTimeout(limit.WithConsumer(context.Background(), "batch"), 100*time.Millisecond)
		req, _ := http.NewRequestWithContext(dctx, "GET", "https://api.example.com/x", nil)
		start := time.Now()
		_, err := tr.RoundTrip(req)
		dcancel()
		var rl *RateLimitError
		var ce *limit.CapError
		if !errors.As(err, &rl) || rl.Reason != "consumer cap" || !errors.As(err, &ce) || ce.Consumer != "batch" || time.Since(start) != 0 {
			t.Errorf("capped request: %v (after %v), want a *RateLimitError with reason consumer cap at once", err, time.Since(start))
		}
		wg.Wait()
		get := func(who string) int64 {
			n, ok := counts.Load(who)
			if !ok {
				return 0
			}
			return n.(*atomic.Int64).Load()
		}
		batch, web := get("batch"), get("web")
		t.Logf("4 s at 50/s (99%% pacing): batch %d, web %d", batch, web)
		// The cap: 30% of 49.5/s for 4 s plus a burst of 2 (30% of 9).
		if batch > 62 || batch < 55 {
			t.Errorf("batch sent %d, want 55..62 (30%% of the route)", batch)
		}
		if web < 140 {
			t.Errorf("web sent %d, want >= 140 (the rest of the route)", web)
		}
	})
}

type countingRT struct{ n atomic.Int64 }

func (c *countingRT) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return reply(200), nil
}

// TestSharesCapAcrossTransports: two Transports (as two processes would)
// share a route limit through Redis, and so does a consumer's cap: batch,
// capped at 0.2 of 50/s on both, sends about 10/s in all, not 10/s each.
func TestSharesCapAcrossTransports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 2 seconds of real time")
	}
	client := testRedis(t)
	prefix := fmt.Sprintf("sluicetest-shares-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		if keys, _ := client.Keys(context.Background(), "{"+prefix+"*").Result(); len(keys) > 0 {
			client.Del(context.Background(), keys...)
		}
	})
	cfg := Config{
		Redis: &RedisConfig{Client: client, Prefix: prefix},
		Routes: []Route{{Name: "api", Policy: Policy{
			Limits: []LimitConfig{{Rate: "50/s", Burst: 10, Shared: true}},
			Quota:  &QuotaConfig{Disabled: true},
		}}},
		Shares: func(_, consumer string) limit.Share {
			if consumer == "batch" {
				return limit.Share{Cap: 0.2}
			}
			return limit.Share{}
		},
	}
	base := &countingRT{}
	ctx, cancel := context.WithTimeout(limit.WithConsumer(context.Background(), "batch"), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		tr := newTestTransport(t, cfg, base)
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/x", nil)
					if resp, err := tr.RoundTrip(req); err == nil {
						drainClose(resp)
					}
				}
			})
		}
	}
	wg.Wait()
	// 20% of 49.5/s for 2 s, plus a burst of 1 (20% of 9).
	n := base.n.Load()
	t.Logf("batch sent %d in 2 s through two Transports (cap 0.2 of 50/s, kept in Redis)", n)
	if n > 23 || n < 17 {
		t.Errorf("batch sent %d, want 17..23: the cap is shared, not per Transport (each alone would send ~21)", n)
	}
}
