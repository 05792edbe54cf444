package sluice

import (
	"context"
	"errors"
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
