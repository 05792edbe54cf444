package sluice

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/sluicetest"
)

// testRedis returns a client of the Redis at SLUICE_TEST_REDIS (default
// 127.0.0.1:6379) or, where nothing answers, of an in-process miniredis
// running the same scripts; SLUICE_REQUIRE_REDIS=1 makes a missing server
// fatal.
func testRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	addr := os.Getenv("SLUICE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Logf("using the real Redis at %s", addr)
		t.Cleanup(func() { c.Close() })
		return c
	} else if os.Getenv("SLUICE_REQUIRE_REDIS") == "1" {
		t.Fatalf("SLUICE_REQUIRE_REDIS=1 but Redis at %s does not answer: %v", addr, err)
	}
	c.Close()
	m := miniredis.RunT(t)
	t.Logf("no Redis at %s: using miniredis", addr)
	mc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { mc.Close() })
	return mc
}

// testRedisTimeout bounds each Redis decision in the tests that check a
// limit is shared. With the default 50 ms, a loaded machine (2 shared cores,
// load 6, -race) timed calls out: the failure policy engaged ("redis
// unavailable, failure policy engaged ... context deadline exceeded") and
// each Transport fell back to the whole rate on its own, drawing 2 to 7
// throttles in 9 of 16 runs of TestSharedLimitAcrossTransports run four at
// once. What a timeout does is tested in limit/redislimit; these tests check
// the sharing.
const testRedisTimeout = 2 * time.Second

// logWarnings returns a logger that passes warnings (the failure policy
// engaging) to t.Log, so that a failure says whether Redis timed out.
func logWarnings(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// tWriter writes to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestSharedLimitAcrossTransports: two Transports (as two processes would)
// share one 20/s limit through Redis, so together they send at 20/s, not
// 40/s, and the provider allowing 20/s never throttles.
func TestSharedLimitAcrossTransports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 2 seconds of real time")
	}
	client := testRedis(t)
	prefix := fmt.Sprintf("sluicetest-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := client.Keys(ctx, "{"+prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	srv := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.TokenBucket(22, 6), Dialect: sluicetest.DialectRetryAfter})
	defer srv.Close()
	cfg := Config{
		Logger: logWarnings(t),
		// Two processes would each set expected_workers 2: should Redis
		// time out anyway, each falls back to half the rate.
		Redis: &RedisConfig{Client: client, Prefix: prefix, Timeout: testRedisTimeout, ExpectedWorkers: 2},
		Routes: []Route{{Name: "api", Match: Match{Host: "127.0.0.1"}, Policy: Policy{
			Limits: []LimitConfig{{Rate: "20/s", Burst: 5, Shared: true}},
			Quota:  &QuotaConfig{Disabled: true},
		}}},
	}
	const perTransport, workers = 25, 4
	var failures atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 2 {
		tr, err := NewTransport(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		var next atomic.Int64
		for w := range workers {
			wg.Go(func() {
				for next.Add(1) <= perTransport {
					resp, err := do(tr, "GET", fmt.Sprintf("%s/items/%d/%d", srv.URL, w, next.Load()), "")
					if err != nil || resp.StatusCode != 200 {
						failures.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	wall := time.Since(start)
	st := srv.Stats()
	// 50 requests at 20/s after a burst of 5: at least 2.25s together.
	min := time.Duration(float64(2*perTransport-5) / 20 * float64(time.Second))
	t.Logf("wall %v (least %v), accepted %d, rejected %d, failures %d", wall, min, st.Accepted, st.Rejected, failures.Load())
	if failures.Load() != 0 || st.Rejected != 0 {
		t.Fatalf("%d failures, %d throttles; want none", failures.Load(), st.Rejected)
	}
	if wall < min*95/100 {
		t.Fatalf("two Transports sent 50 requests in %v: the limit was not shared (least %v)", wall, min)
	}
}

// TestRedisSectionConnects builds a Transport from a redis section (not a
// supplied client): the Transport makes its client, shares the limit
// through it, and closes it.
func TestRedisSectionConnects(t *testing.T) {
	client := testRedis(t)
	addr := client.(*redis.Client).Options().Addr
	prefix := fmt.Sprintf("sluicetest-conn-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := client.Keys(context.Background(), "{"+prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(context.Background(), keys...)
		}
	})
	srv := sluicetest.NewServer(sluicetest.Options{})
	defer srv.Close()
	cfg := Config{
		Logger: logWarnings(t),
		Redis:  &RedisConfig{Addr: addr, Prefix: prefix, Timeout: testRedisTimeout},
		Defaults: Policy{Limits: []LimitConfig{{Rate: "100/s", Shared: true}},
			Quota: &QuotaConfig{Disabled: true}},
	}
	tr, err := NewTransport(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if resp, err := do(tr, "GET", fmt.Sprintf("%s/x/%d", srv.URL, i), ""); err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %v, %v", i, resp, err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	keys, err := client.Keys(context.Background(), "{"+prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no limiter keys under %q in Redis (%v): the limit was not shared", prefix, err)
	}
}
