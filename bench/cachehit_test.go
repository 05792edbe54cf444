package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice"
)

// BenchmarkTransportCacheHit is the cost of a request answered from a
// fresh cache entry through a Transport, per store: memory (the in-process
// LRU) and redis (one GET of the entry from the Redis at SLUICE_TEST_REDIS,
// default 127.0.0.1:6379; skipped when it does not answer).
// go test -run XXX -bench TransportCacheHit -benchmem ./ (in bench/)
func BenchmarkTransportCacheHit(b *testing.B) {
	for _, store := range []string{"memory", "redis"} {
		b.Run(store, func(b *testing.B) {
			cfg := sluice.Config{Defaults: sluice.Policy{Cache: &sluice.CacheConfig{TTL: time.Hour}}}
			if store == "redis" {
				addr := os.Getenv("SLUICE_TEST_REDIS")
				if addr == "" {
					addr = "127.0.0.1:6379"
				}
				rdb := redis.NewClient(&redis.Options{Addr: addr})
				defer rdb.Close()
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if err := rdb.Ping(ctx).Err(); err != nil {
					b.Skipf("redis at %s does not answer: %v", addr, err)
				}
				prefix := fmt.Sprintf("sluicebench:hit:%d", time.Now().UnixNano())
				defer func() {
					if keys, _ := rdb.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
						rdb.Del(context.Background(), keys...)
					}
				}()
				cfg.Redis = &sluice.RedisConfig{Client: rdb}
				cfg.Cache = sluice.CacheLimits{Store: "redis", Prefix: prefix, Salt: []byte("the bench's shared secret salt")}
			}
			tr, err := sluice.NewTransport(cfg, canned{})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			client := &http.Client{Transport: tr}
			get := func() {
				req, _ := http.NewRequest("GET", "http://api.example.com/item?page=2", nil)
				req.Header.Set("Authorization", "Bearer sk-0123456789abcdef")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			get() // stores the entry
			b.ReportAllocs()
			for b.Loop() {
				get()
			}
			if rs := tr.Stats().Routes; len(rs) == 0 || rs[0].CacheHits < int64(b.N) {
				b.Fatalf("not answered from the cache: %+v", rs)
			}
		})
	}
}
