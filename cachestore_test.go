package sluice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/httpcache"
)

const testSalt = "a test salt of more than 16 bytes"

// bubbleRedis returns a client of the Redis at SLUICE_TEST_REDIS (default
// 127.0.0.1:6379) or, where nothing answers, of a miniredis, made outside
// any synctest bubble and without socket deadlines, so that Transports in a
// bubble (whose clock is fake) can use it; and a unique key prefix whose
// keys are removed at the end.
func bubbleRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	addr := os.Getenv("SLUICE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	probe := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := probe.Ping(ctx).Err(); err == nil {
		t.Logf("using the real Redis at %s", addr)
	} else if os.Getenv("SLUICE_REQUIRE_REDIS") == "1" {
		t.Fatalf("SLUICE_REQUIRE_REDIS=1 but Redis at %s does not answer: %v", addr, err)
	} else {
		addr = miniredis.RunT(t).Addr()
		t.Logf("no Redis at %s: using miniredis", addr)
	}
	probe.Close()
	// -2: no SetDeadline calls, which would use the bubble's fake clock.
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: -2, WriteTimeout: -2, PoolSize: 16, MaxRetries: -1})
	prefix := fmt.Sprintf("sluicetest:%s:%d", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := c.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	return c, prefix
}

// redisCacheConfig is cacheConfig with the cache in Redis.
func redisCacheConfig(c redis.UniversalClient, prefix string, cc CacheConfig) Config {
	cfg := cacheConfig(cc)
	cfg.Redis = &RedisConfig{Client: c}
	cfg.Cache = CacheLimits{Store: "redis", Prefix: prefix, Salt: []byte(testSalt)}
	return cfg
}

// perUser answers with a body naming the request's credential, fresh for
// a minute, with an ETag, after delay; it counts requests and 304s.
type perUser struct {
	delay          time.Duration
	requests, n304 atomic.Int64
}

func (p *perUser) RoundTrip(req *http.Request) (*http.Response, error) {
	p.requests.Add(1)
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	h := http.Header{"Etag": {`"v1"`}, "Cache-Control": {"private, max-age=60"}}
	if req.Header.Get("If-None-Match") == `"v1"` {
		p.n304.Add(1)
		return &http.Response{StatusCode: 304, Header: h, Body: http.NoBody}, nil
	}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("data of " + req.Header.Get("Authorization")))}, nil
}

// TestRedisStoreCredentialPartition: two Transports (two processes)
// sharing Redis share entries per credential; a token never gets another
// token's entry, and a Transport with another salt shares nothing.
func TestRedisStoreCredentialPartition(t *testing.T) {
	rdb, prefix := bubbleRedis(t)
	up := &perUser{}
	cfg := redisCacheConfig(rdb, prefix, CacheConfig{TTL: time.Hour})
	a, b := newTestTransport(t, cfg, up), newTestTransport(t, cfg, up)
	cfg.Cache.Salt = []byte("another salt, another deployment")
	other := newTestTransport(t, cfg, up)
	const u = "https://api.example.com/me"
	steps := []struct {
		tr       *Transport
		token    string
		requests int64 // upstream requests so far
		cache    string
	}{
		{a, "token-1", 1, ""},
		{b, "token-1", 1, "hit"}, // the other process's entry
		{b, "token-2", 2, ""},    // never token-1's
		{a, "token-2", 2, "hit"},
		{other, "token-1", 3, ""}, // another salt: other keys
	}
	for i, s := range steps {
		code, body, h := get(t, s.tr, u, "Authorization", "Bearer "+s.token)
		if code != 200 || body != "data of Bearer "+s.token || h.Get(httpcache.CacheHeader) != s.cache || up.requests.Load() != s.requests {
			t.Errorf("step %d (%s): %d %q cache %q, %d upstream requests; want %q, %d", i, s.token, code, body, h.Get(httpcache.CacheHeader), up.requests.Load(), s.cache, s.requests)
		}
	}
	keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
	for _, k := range keys {
		if v, _ := rdb.Get(context.Background(), k).Result(); strings.Contains(k+v, "token-1\n") || strings.Contains(k, "token") {
			t.Errorf("Redis key %q holds a credential", k)
		}
	}
}

// TestRedisStoreDown: with Redis unreachable, requests are still served
// (from the upstream), the failures are counted and logged, and the log
// holds no credential.
func TestRedisStoreDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer rdb.Close()
	var logs bytes.Buffer
	cfg := redisCacheConfig(rdb, "sluicetest:down", CacheConfig{TTL: time.Hour})
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	up := &perUser{}
	tr := newTestTransport(t, cfg, up)
	for i := range 3 {
		if code, body, _ := get(t, tr, "https://api.example.com/me?token=qs-secret", "Authorization", "Bearer sk-secret"); code != 200 || !strings.Contains(body, "sk-secret") {
			t.Fatalf("request %d with Redis down: %d %q", i, code, body)
		}
	}
	rs, _ := tr.Stats().Route("api")
	if up.requests.Load() != 3 || rs.CacheStoreErrors == 0 || rs.Failures["transport"] != 0 {
		t.Errorf("%d upstream requests, %d store errors, failures %v; want 3, > 0, none", up.requests.Load(), rs.CacheStoreErrors, rs.Failures)
	}
	if !strings.Contains(logs.String(), "cache_store_error") {
		t.Errorf("no cache_store_error logged:\n%s", logs.String())
	}
	for _, secret := range []string{"sk-secret", "qs-secret"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs.String())
		}
	}
}

// TestCrossProcessCoalescing: four Transports with separate in-memory
// state, sharing only Redis, asking for one resource at once make one
// upstream request; when it goes stale, one conditional request (a 304)
// refreshes it for all four. The Transports run in a synctest bubble (the
// upstream takes 200ms of fake time); Redis is real, outside it.
func TestCrossProcessCoalescing(t *testing.T) {
	rdb, prefix := bubbleRedis(t)
	synctest.Test(t, func(t *testing.T) {
		up := &perUser{delay: 200 * time.Millisecond}
		cfg := redisCacheConfig(rdb, prefix, CacheConfig{TTL: time.Hour})
		var trs []*Transport
		for range 4 {
			trs = append(trs, newTestTransport(t, cfg, up))
		}
		round := func() {
			var wg sync.WaitGroup
			for _, tr := range trs {
				wg.Go(func() {
					if code, body, _ := get(t, tr, "https://api.example.com/me", "Authorization", "Bearer t"); code != 200 || body != "data of Bearer t" {
						t.Errorf("%d %q", code, body)
					}
				})
			}
			wg.Wait()
		}
		round()
		if n := up.requests.Load(); n != 1 {
			t.Errorf("first round: %d upstream requests, want 1", n)
		}
		time.Sleep(61 * time.Second) // stale: max-age=60
		round()
		var shared, notMod, saved int64
		for _, tr := range trs {
			rs, _ := tr.Stats().Route("api")
			shared, notMod, saved = shared+rs.CoalescedShared, notMod+rs.NotModified, saved+rs.RequestsSaved
		}
		if n := up.requests.Load(); n != 2 || up.n304.Load() != 1 || notMod != 1 || shared != 6 || saved != 6 {
			t.Errorf("after the second round: %d upstream requests (%d 304s), NotModified %d, CoalescedShared %d, RequestsSaved %d; want 2 (1), 1, 6, 6",
				n, up.n304.Load(), notMod, shared, saved)
		}
	})
}

// stuckLock is a shared store whose every entry is locked by a process
// that never finishes.
type stuckLock struct {
	*httpcache.MemoryStore
	polls atomic.Int64
}

func (s *stuckLock) TryLock(context.Context, string, time.Duration) (string, bool, error) {
	return "", false, nil
}
func (s *stuckLock) Unlock(context.Context, string, string) error { return nil }
func (s *stuckLock) Locked(context.Context, string) (bool, error) {
	s.polls.Add(1)
	return true, nil
}

// TestSharedLockWaitBounded: a request whose entry stays locked waits
// LockWait, then fetches itself; a canceled caller stops waiting at once.
func TestSharedLockWaitBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms, _ := httpcache.NewMemoryStore(httpcache.Options{})
		store := &stuckLock{MemoryStore: ms}
		cfg := cacheConfig(CacheConfig{TTL: time.Hour})
		cfg.Cache = CacheLimits{Backend: store, LockWait: 2 * time.Second}
		up := &perUser{}
		tr := newTestTransport(t, cfg, up)
		start := time.Now()
		if code, _, _ := get(t, tr, "https://api.example.com/me", "Authorization", "Bearer t"); code != 200 {
			t.Fatalf("status %d", code)
		}
		if waited := time.Since(start); waited != 2*time.Second || up.requests.Load() != 1 {
			t.Errorf("waited %v, %d upstream requests; want 2s, 1", waited, up.requests.Load())
		}
		if p := store.polls.Load(); p < 10 || p > 100 {
			t.Errorf("%d lock polls in 2s, want between 10 and 100", p)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/other", nil)
		start = time.Now()
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 300*time.Millisecond {
			t.Errorf("a caller whose deadline passes while waiting: %v after %v", err, time.Since(start))
		}
	})
}

func TestCacheStoreConfigErrors(t *testing.T) {
	t.Setenv("SLUICE_TEST_SHORT_SALT", "short")
	t.Setenv("SLUICE_TEST_SALT", testSalt)
	ms, _ := httpcache.NewMemoryStore(httpcache.Options{})
	rc := &RedisConfig{Addr: "127.0.0.1:6379"}
	tests := []struct {
		name  string
		cache CacheLimits
		redis *RedisConfig
		want  string // "" for valid
	}{
		{"memory default", CacheLimits{}, nil, ""},
		{"redis", CacheLimits{Store: "redis", SaltEnv: "SLUICE_TEST_SALT", Prefix: "p", MaxEntryBytes: 1 << 20}, rc, ""},
		{"unknown store", CacheLimits{Store: "disk"}, nil, `cache.store: "disk" is not a store: want memory or redis`},
		{"redis without section", CacheLimits{Store: "redis", SaltEnv: "SLUICE_TEST_SALT"}, nil, "cache.store: redis needs the redis section"},
		{"redis without salt", CacheLimits{Store: "redis"}, rc, "cache.salt_env: is required with store redis"},
		{"salt env unset", CacheLimits{Store: "redis", SaltEnv: "SLUICE_TEST_NO_SUCH_VAR"}, rc, "cache.salt_env: environment variable SLUICE_TEST_NO_SUCH_VAR is not set"},
		{"short salt", CacheLimits{Store: "redis", SaltEnv: "SLUICE_TEST_SHORT_SALT"}, rc, "holds 5 bytes; use a secret of at least 16"},
		{"prefix with memory", CacheLimits{Prefix: "p"}, nil, "cache.prefix: applies only to store redis"},
		{"lock with memory", CacheLimits{LockTTL: time.Second}, nil, "cache.lock_ttl: lock_ttl and lock_wait apply only"},
		{"entry over max bytes", CacheLimits{MaxBytes: 1000, MaxEntryBytes: 2000}, nil, "cache.max_entry_bytes: 2000 exceeds cache.max_bytes (1000)"},
		{"negative entry bytes", CacheLimits{Store: "redis", SaltEnv: "SLUICE_TEST_SALT", MaxEntryBytes: -1}, rc, "cache.max_entry_bytes: -1 must not be negative"},
		{"negative lock wait", CacheLimits{Store: "redis", SaltEnv: "SLUICE_TEST_SALT", LockWait: -1}, rc, "cache.lock_wait: -1ns must not be negative"},
		{"store and backend", CacheLimits{Store: "memory", Backend: ms}, nil, `cache.store: "memory" and a Backend are both set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cacheConfig(CacheConfig{TTL: time.Minute})
			cfg.Cache, cfg.Redis = tt.cache, tt.redis
			err := cfg.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseCacheStoreConfig(t *testing.T) {
	t.Setenv("SLUICE_TEST_SALT", testSalt)
	cfg, err := ParseConfig([]byte(`redis: {addr: "127.0.0.1:6379"}
cache:
  store: redis
  prefix: app:cache
  max_entry_bytes: 65536
  salt_env: SLUICE_TEST_SALT
  retain: 2h
  lock_ttl: 3s
  lock_wait: 1s
`))
	if err != nil {
		t.Fatal(err)
	}
	want := CacheLimits{Store: "redis", Prefix: "app:cache", MaxEntryBytes: 65536, SaltEnv: "SLUICE_TEST_SALT",
		Retain: 2 * time.Hour, LockTTL: 3 * time.Second, LockWait: time.Second}
	if got := cfg.Cache; got.Store != want.Store || got.Prefix != want.Prefix || got.MaxEntryBytes != want.MaxEntryBytes ||
		got.SaltEnv != want.SaltEnv || got.Retain != want.Retain || got.LockTTL != want.LockTTL || got.LockWait != want.LockWait {
		t.Errorf("cache = %+v, want %+v", got, want)
	}
}

// sized answers with a body of n bytes and the given header pairs.
type sized struct {
	n        int
	hdr      []string
	requests atomic.Int64
}

func (s *sized) RoundTrip(*http.Request) (*http.Response, error) {
	s.requests.Add(1)
	r := reply(200, s.hdr...)
	r.Body = io.NopCloser(strings.NewReader(strings.Repeat("x", s.n)))
	return r, nil
}

// TestRedisStoreTTLAndSizeCap: the Transport gives every Redis key a TTL
// (fresh life plus retain with a validator, plus stale_if_error without
// one), and a response over max_entry_bytes is served whole but not
// stored, without counting a store error.
func TestRedisStoreTTLAndSizeCap(t *testing.T) {
	rdb, prefix := bubbleRedis(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		up      *sized
		cache   CacheConfig
		wantTTL time.Duration // 0: not stored
	}{
		{"validator: max-age + retain", &sized{n: 10, hdr: []string{"Cache-Control", "max-age=60", "Etag", `"a"`}}, CacheConfig{TTL: time.Hour}, 60*time.Second + 2*time.Hour},
		{"no validator: max-age + stale_if_error", &sized{n: 10, hdr: []string{"Cache-Control", "max-age=60"}}, CacheConfig{TTL: time.Hour, StaleIfError: 10 * time.Minute}, 11 * time.Minute},
		{"over max_entry_bytes", &sized{n: 5000, hdr: []string{"Cache-Control", "max-age=60"}}, CacheConfig{TTL: time.Hour}, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fmt.Sprintf("%s:%d", prefix, i)
			cfg := redisCacheConfig(rdb, p, tt.cache)
			cfg.Cache.Retain, cfg.Cache.MaxEntryBytes = 2*time.Hour, 4096
			tr := newTestTransport(t, cfg, tt.up)
			for range 2 {
				if code, body, _ := get(t, tr, "https://api.example.com/x"); code != 200 || len(body) != tt.up.n {
					t.Fatalf("%d, %d bytes; want 200, %d", code, len(body), tt.up.n)
				}
			}
			keys, _ := rdb.Keys(ctx, p+":*").Result()
			rs, _ := tr.Stats().Route("api")
			if rs.CacheStoreErrors != 0 {
				t.Errorf("%d store errors", rs.CacheStoreErrors)
			}
			if tt.wantTTL == 0 {
				if len(keys) != 0 || tt.up.requests.Load() != 2 {
					t.Errorf("keys %v, %d upstream requests; want none stored, 2", keys, tt.up.requests.Load())
				}
				return
			}
			if len(keys) != 1 || tt.up.requests.Load() != 1 {
				t.Fatalf("keys %v, %d upstream requests; want 1, 1", keys, tt.up.requests.Load())
			}
			if ttl := rdb.PTTL(ctx, keys[0]).Val(); ttl > tt.wantTTL || ttl < tt.wantTTL-5*time.Second {
				t.Errorf("PTTL %v, want about %v", ttl, tt.wantTTL)
			}
		})
	}
}
