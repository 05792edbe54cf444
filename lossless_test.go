package sluice

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// With the zero Config, 1,000 GETs against an upstream that answers 10% of
// attempts with 503 and drops 5% of connections after the request was
// written all succeed (default MaxAttempts 5: about 1 in 130,000 lost; with
// 3, about 1 in 300 was), and 200 POSTs that carry an Idempotency-Key keep
// the same key on every attempt, so the server can drop duplicates.
func TestZeroConfigLosesNothingUnderFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(10, 8))
		var mu sync.Mutex
		keys := map[string]int{} // Idempotency-Key -> attempts acted on with 200
		s := &script{answer: func(int, *http.Request) (*http.Response, error) {
			mu.Lock()
			p := rng.Float64()
			mu.Unlock()
			switch {
			case p < 0.10:
				return reply(503), nil
			case p < 0.15:
				return nil, errReset
			}
			return reply(200), nil
		}}
		tr := newTestTransport(t, Config{}, s)
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > 1200 {
						return
					}
					method, body, hdr := "GET", "", []string(nil)
					if i > 1000 {
						method, body, hdr = "POST", `{"n":1}`, []string{"Idempotency-Key", "key-" + itoa(i)}
					}
					resp, err := do(tr, method, "https://api.example.com/v1/items/"+itoa(i), body, hdr...)
					if err != nil {
						failed.Add(1)
						t.Errorf("%s %d: %v", method, i, err)
						continue
					}
					drainClose(resp)
				}
			})
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			t.Fatalf("%d of 1200 requests failed, want 0", f)
		}
		for i := range s.n() {
			c := s.get(i)
			if c.method == "POST" {
				k := c.header.Get("Idempotency-Key")
				if k == "" {
					t.Fatalf("a POST attempt lost its Idempotency-Key")
				}
				keys[k]++
			}
		}
		if len(keys) != 200 {
			t.Fatalf("POST attempts carried %d distinct keys, want 200 (one per request, kept on retries)", len(keys))
		}
	})
}
