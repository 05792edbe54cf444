package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/limit"
	"github.com/sluicehq/sluice/limit/redislimit"
)

// The Redis benchmarks run sluice's limit/redislimit beside
// github.com/go-redis/redis_rate/v10 on the same real server (env
// SLUICE_TEST_REDIS, default 127.0.0.1:6379; skipped when it does not
// answer), with the same client options, at a limit (200,000/s, burst
// 200,000) above what one client reaches, so every decision is a grant.
// Leasing runs with its default LeaseTTL (5 intervals, 25us here: leased
// units that wait longer are dropped) and with 1ms (an overshoot bound of
// 200 units, 0.1% of a second's limit). Each reports decisions/s, roundtrips/op (commands
// counted by a go-redis hook; EVALSHA is one) and refused/op (must be 0).
//
//	cd bench && go test -run '^$' -bench 'BenchmarkRedis' -benchtime 20000x -count 5

// redisRoundTrips counts the commands a client sends (a pipeline counts once).
type redisRoundTrips struct{ n atomic.Int64 }

func (h *redisRoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *redisRoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *redisRoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// redisAllower is one decision: granted or not, or an error.
type redisAllower func(ctx context.Context) (bool, error)

// redisContenders builds the limiters under test on client, each on its
// own keys. The rate is so high that every decision is a grant.
func redisContenders(b *testing.B, client *redis.Client) map[string]redisAllower {
	p := fmt.Sprintf("bench-%08x", rand.Uint32())
	b.Cleanup(func() {
		c := context.Background()
		for _, pattern := range []string{"{" + p + ":*", "rate:" + p + "*"} {
			iter := client.Scan(c, 0, pattern, 100).Iterator()
			for iter.Next(c) {
				client.Del(c, iter.Val())
			}
		}
	})
	huge := limit.Rate{Count: redisBenchRate, Period: time.Second}
	sluice := func(lease int64, ttl time.Duration) redisAllower {
		l, err := redislimit.NewBucket(client, fmt.Sprintf("lease%d-%v", lease, ttl), huge, redislimit.Options{
			Prefix: p, Lease: lease, LeaseTTL: ttl, Timeout: time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context) (bool, error) {
			r, err := l.Allow(ctx, 1)
			return r.Allowed, err
		}
	}
	rr := redis_rate.NewLimiter(client)
	lim := redis_rate.Limit{Rate: redisBenchRate, Burst: redisBenchRate, Period: time.Second}
	return map[string]redisAllower{
		"sluice":               sluice(0, 0),
		"sluice-lease5":        sluice(5, 0),
		"sluice-lease5-ttl1ms": sluice(5, time.Millisecond),
		"redis_rate": func(ctx context.Context) (bool, error) {
			r, err := rr.Allow(ctx, p, lim)
			if err != nil {
				return false, err
			}
			return r.Allowed > 0, nil
		},
	}
}

// redisClient returns a client for the benchmark server with a round-trip
// counter, or skips.
func redisClient(b *testing.B) (*redis.Client, *redisRoundTrips) {
	addr := os.Getenv("SLUICE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = c.Close() })
	ping, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Ping(ping).Err(); err != nil {
		b.Skipf("redis at %s does not answer: %v", addr, err)
	}
	// Open the connections the parallel runs need before any is timed, so
	// that the first contender does not pay for dialling them.
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() { c.Ping(ping) })
	}
	wg.Wait()
	h := &redisRoundTrips{}
	c.AddHook(h)
	return c, h
}

const redisBenchRate = 200_000

var redisOrder = []string{"redis_rate", "sluice", "sluice-lease5", "sluice-lease5-ttl1ms"}

// redisContenderOrder is redisOrder, reversed when SLUICE_BENCH_REVERSE is
// set: alternating runs cancel the advantage or handicap of going first.
func redisContenderOrder() []string {
	if os.Getenv("SLUICE_BENCH_REVERSE") == "" {
		return redisOrder
	}
	r := slices.Clone(redisOrder)
	slices.Reverse(r)
	return r
}

func BenchmarkRedisAllow(b *testing.B) {
	client, rt := redisClient(b)
	cs := redisContenders(b, client)
	for _, name := range redisContenderOrder() {
		allow := cs[name]
		b.Run(name, func(b *testing.B) {
			c := context.Background()
			if _, err := allow(c); err != nil { // loads the script
				b.Fatal(err)
			}
			before := rt.n.Load()
			var refused int
			b.ResetTimer()
			for b.Loop() {
				ok, err := allow(c)
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					refused++
				}
			}
			redisReport(b, rt.n.Load()-before, int64(refused))
		})
	}
}

func BenchmarkRedisAllowParallel(b *testing.B) {
	client, rt := redisClient(b)
	cs := redisContenders(b, client)
	for _, name := range redisContenderOrder() {
		allow := cs[name]
		b.Run(name, func(b *testing.B) {
			c := context.Background()
			if _, err := allow(c); err != nil {
				b.Fatal(err)
			}
			before := rt.n.Load()
			var refused, failed atomic.Int64
			b.SetParallelism(4) // 4 x GOMAXPROCS goroutines: the work is waiting on the network
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ok, err := allow(c)
					if err != nil {
						failed.Add(1)
					} else if !ok {
						refused.Add(1)
					}
				}
			})
			if failed.Load() > 0 {
				b.Fatalf("%d decisions failed", failed.Load())
			}
			redisReport(b, rt.n.Load()-before, refused.Load())
		})
	}
}

func redisReport(b *testing.B, roundTrips, refused int64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	b.ReportMetric(float64(roundTrips)/float64(b.N), "roundtrips/op")
	b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
}
