package rediscache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/httpcache"
)

// testStore returns a Store with a unique prefix on the Redis at
// SLUICE_TEST_REDIS (default 127.0.0.1:6379) or, where nothing answers, on
// an in-process miniredis (returned, for FastForward; nil with a real
// Redis). SLUICE_REQUIRE_REDIS=1 makes a missing server fatal. The
// prefix's keys are removed at the end.
func testStore(t *testing.T, o Options) (*Store, redis.UniversalClient, *miniredis.Miniredis) {
	t.Helper()
	addr := os.Getenv("SLUICE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	var m *miniredis.Miniredis
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Logf("using the real Redis at %s", addr)
	} else if os.Getenv("SLUICE_REQUIRE_REDIS") == "1" {
		t.Fatalf("SLUICE_REQUIRE_REDIS=1 but Redis at %s does not answer: %v", addr, err)
	} else {
		c.Close()
		m = miniredis.RunT(t)
		t.Logf("no Redis at %s: using miniredis", addr)
		c = redis.NewClient(&redis.Options{Addr: m.Addr()})
	}
	o.Prefix = fmt.Sprintf("sluicetest:%s:%d", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := c.Keys(ctx, o.Prefix+":*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	s, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, c, m
}

func entry(t *testing.T, body string, now time.Time) *httpcache.Entry {
	t.Helper()
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Etag": {`"v1"`}}, Body: http.NoBody}
	if body != "" {
		resp.Body = readCloser{strings.NewReader(body)}
	}
	e, _, err := httpcache.Snapshot(resp, time.Minute, now, 1<<20)
	if err != nil || e == nil {
		t.Fatalf("Snapshot: %v %v", e, err)
	}
	return e
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func get(t *testing.T, rawURL, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// TestCredentialPartition: two tokens' requests for one URL have keys in
// different partitions; an entry stored for one is never loaded for the
// other, and Redis holds neither token, only keyed fingerprints.
func TestCredentialPartition(t *testing.T) {
	ctx := context.Background()
	s, c, _ := testStore(t, Options{})
	keyer := httpcache.NewKeyer([]byte("test salt, shared by the processes"))
	a := get(t, "https://api.example.com/user", "token-aaaa")
	b := get(t, "https://api.example.com/user", "token-bbbb")
	ka, kb := keyer.Key(a, nil, nil), keyer.Key(b, nil, nil)
	if httpcache.Partition(ka) == httpcache.Partition(kb) {
		t.Fatal("two tokens share a partition")
	}
	if err := httpcache.Save(ctx, s, ka, a, entry(t, "alice's data", time.Now()), time.Minute); err != nil {
		t.Fatal(err)
	}
	if e, _, err := httpcache.Load(ctx, s, kb, b); err != nil || e != nil {
		t.Fatalf("token b loaded %v (err %v); want a miss", e, err)
	}
	if e, _, err := httpcache.Load(ctx, s, ka, a); err != nil || e == nil || string(e.Body()) != "alice's data" {
		t.Fatalf("token a: %v, %v", e, err)
	}
	keys, err := c.Keys(ctx, s.prefix+":*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v; want one", keys, err)
	}
	if want := s.prefix + ":p:" + httpcache.Partition(ka) + ":e:"; !strings.HasPrefix(keys[0], want) {
		t.Errorf("key %q is not in partition %q", keys[0], want)
	}
	v, _ := c.Get(ctx, keys[0]).Result()
	for _, secret := range []string{"token-aaaa", "token-bbbb"} {
		if strings.Contains(keys[0]+v, secret) {
			t.Errorf("Redis holds %q", secret)
		}
	}
	if n, err := s.Purge(ctx, httpcache.Partition(ka), 0); err != nil || n != 1 {
		t.Errorf("Purge = %d, %v; want 1", n, err)
	}
	if e, _, _ := httpcache.Load(ctx, s, ka, a); e != nil {
		t.Error("the entry survived Purge")
	}
}

// TestTTLAndSizeCap: every key has a TTL (the one asked for, or MaxTTL),
// the entry is gone after it, and a value over MaxEntryBytes is refused
// and removes the older one.
func TestTTLAndSizeCap(t *testing.T) {
	ctx := context.Background()
	s, c, m := testStore(t, Options{MaxEntryBytes: 2048, MaxTTL: time.Hour})
	if err := s.Set(ctx, "k", []byte("v"), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Duration{"k": 30 * time.Second, "forever": time.Hour} {
		if ttl := c.PTTL(ctx, s.redisKey(key, "e")).Val(); ttl <= want-time.Second || ttl > want {
			t.Errorf("PTTL of %q = %v, want about %v", key, ttl, want)
		}
	}
	if err := s.Set(ctx, "k", make([]byte, 2048), time.Minute); !errors.Is(err, httpcache.ErrTooLarge) {
		t.Errorf("Set over the cap: %v, want ErrTooLarge", err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, httpcache.ErrNotFound) {
		t.Errorf("the superseded entry: %v, want ErrNotFound", err)
	}
	if m == nil {
		t.Log("real Redis: expiry itself is Redis's; checked with miniredis")
		return
	}
	m.FastForward(time.Hour)
	if _, err := s.Get(ctx, "forever"); !errors.Is(err, httpcache.ErrNotFound) {
		t.Errorf("after MaxTTL: %v, want ErrNotFound", err)
	}
}

// TestKeyChecked: a value stored for another key under the same Redis key
// (a hash collision) reads as a miss.
func TestKeyChecked(t *testing.T) {
	ctx := context.Background()
	s, c, _ := testStore(t, Options{})
	if err := s.Set(ctx, "a", []byte("for a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	v, _ := c.Get(ctx, s.redisKey("a", "e")).Bytes()
	c.Set(ctx, s.redisKey("b", "e"), v, time.Minute)
	if _, err := s.Get(ctx, "b"); !errors.Is(err, httpcache.ErrNotFound) {
		t.Errorf("another key's value: %v, want ErrNotFound", err)
	}
	if got, err := s.Get(ctx, "a"); err != nil || string(got) != "for a" {
		t.Errorf("Get a = %q, %v", got, err)
	}
}

// TestLockExpiry: a lock excludes a second holder, is released only by
// its own token, and expires after its TTL.
func TestLockExpiry(t *testing.T) {
	ctx := context.Background()
	s, c, m := testStore(t, Options{})
	tok, ok, err := s.TryLock(ctx, "k", 2*time.Second)
	if err != nil || !ok {
		t.Fatalf("TryLock: %v %v", ok, err)
	}
	if _, ok, _ := s.TryLock(ctx, "k", 2*time.Second); ok {
		t.Fatal("a second holder took the lock")
	}
	if err := s.Unlock(ctx, "k", "not the token"); err != nil {
		t.Fatal(err)
	}
	if locked, _ := s.Locked(ctx, "k"); !locked {
		t.Fatal("another token released the lock")
	}
	if ttl := c.PTTL(ctx, s.redisKey("k", "l")).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("lock PTTL %v, want at most 2s", ttl)
	}
	if m != nil {
		m.FastForward(2 * time.Second)
		if locked, _ := s.Locked(ctx, "k"); locked {
			t.Fatal("the lock outlived its TTL")
		}
		if _, ok, _ := s.TryLock(ctx, "k", time.Second); !ok {
			t.Fatal("the expired lock could not be taken")
		}
		return
	}
	if err := s.Unlock(ctx, "k", tok); err != nil {
		t.Fatal(err)
	}
	if locked, _ := s.Locked(ctx, "k"); locked {
		t.Fatal("Unlock with the token left the lock")
	}
	t.Log("real Redis: expiry checked by PTTL; FastForward needs miniredis")
}

// TestRedisDown: with nothing listening, calls fail (not hang) within the
// timeout, and then back off without dialing.
func TestRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	s, err := New(c, Options{Backoff: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, httpcache.ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with Redis down: %v, want the dial error", err)
	}
	for name, err := range map[string]error{
		"get":  func() error { _, err := s.Get(ctx, "k"); return err }(),
		"set":  s.Set(ctx, "k", []byte("v"), time.Minute),
		"lock": func() error { _, _, err := s.TryLock(ctx, "k", time.Second); return err }(),
	} {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s while backing off: %v, want ErrUnavailable", name, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	tests := []struct {
		rdb  redis.UniversalClient
		o    Options
		want string
	}{
		{nil, Options{}, "rediscache: nil Redis client"},
		{c, Options{MaxEntryBytes: -1}, "rediscache: MaxEntryBytes -1 must not be negative"},
		{c, Options{Timeout: -1}, "rediscache: Timeout -1ns must not be negative"},
		{c, Options{MaxTTL: -1}, "rediscache: MaxTTL -1ns must not be negative"},
	}
	for _, tt := range tests {
		if _, err := New(tt.rdb, tt.o); fmt.Sprint(err) != tt.want {
			t.Errorf("New(%+v) = %v, want %q", tt.o, err, tt.want)
		}
	}
}

// TestCallerCancelNoBackoff: a call ended by the caller's own context does
// not make the store back off for everyone.
func TestCallerCancelNoBackoff(t *testing.T) {
	s, _, _ := testStore(t, Options{Backoff: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with a canceled context: %v", err)
	}
	if _, err := s.Get(context.Background(), "k"); !errors.Is(err, httpcache.ErrNotFound) {
		t.Errorf("the next call: %v, want ErrNotFound (no backoff)", err)
	}
}
