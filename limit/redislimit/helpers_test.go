package redislimit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(m.Run()) // a multi-process child: no leak check of the parent's kind
	}
	// go-redis retries a failed dial in the background once a second until
	// the pool is closed or the dial succeeds (the killed master of the
	// cluster tests); that goroutine ends within a second of Close.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// childEnv marks a child process of the multi-process test.
const childEnv = "SLUICE_REDISLIMIT_CHILD"

// testRedisAddr is the real server the tests use when it answers.
func testRedisAddr() string {
	if a := os.Getenv("SLUICE_TEST_REDIS"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// realRedis returns a client for the real test server, or nil when it does
// not answer (fatal when SLUICE_REQUIRE_REDIS=1).
func realRedis(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:                  testRedisAddr(),
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialTimeout:           200 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		if os.Getenv("SLUICE_REQUIRE_REDIS") == "1" {
			t.Fatalf("SLUICE_REQUIRE_REDIS=1 but redis at %s does not answer: %v", testRedisAddr(), err)
		}
		return nil
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// backend is a Redis server the tests run against.
type backend struct {
	name   string // "redis" or "miniredis"
	client *redis.Client
	mr     *miniredis.Miniredis // nil for the real server
}

// newMini starts an in-process miniredis with its clock stopped at a fixed
// instant, and a client for it.
func newMini(t testing.TB) backend {
	t.Helper()
	mr := miniredis.RunT(t)
	mr.SetTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return backend{name: "miniredis", client: c, mr: mr}
}

// anyBackend returns the real server if it answers, else miniredis, and
// logs which.
func anyBackend(t testing.TB) backend {
	t.Helper()
	if c := realRedis(t); c != nil {
		t.Logf("running against real redis at %s", testRedisAddr())
		return backend{name: "redis", client: c}
	}
	t.Logf("redis at %s does not answer: running against miniredis", testRedisAddr())
	return newMini(t)
}

// allBackends returns miniredis and, when it answers, the real server: the
// same scripts are checked on both.
func allBackends(t *testing.T) []backend {
	t.Helper()
	bs := []backend{newMini(t)}
	if c := realRedis(t); c != nil {
		bs = append(bs, backend{name: "redis", client: c})
	} else {
		t.Logf("redis at %s does not answer: miniredis only", testRedisAddr())
	}
	return bs
}

// prefix returns a key prefix unique to this test, and deletes the keys
// under it when the test ends.
func prefix(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-", "{", "", "}", "").Replace(t.Name())
	p := fmt.Sprintf("sluicetest-%s-%08x", name, rand.Uint32())
	t.Cleanup(func() { deleteKeys(c, p) })
	return p
}

func deleteKeys(c redis.UniversalClient, p string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, "{"+p+":*", 100).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

// fakeClock is the limiter's clock and miniredis's TIME at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	mr  *miniredis.Miniredis
}

func newFakeClock(mr *miniredis.Miniredis) *fakeClock {
	c := &fakeClock{now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), mr: mr}
	mr.SetTime(c.now)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	c.mr.SetTime(now)
}

// testTimeout is the Redis call timeout of tests that are not about
// failures: generous, since miniredis runs Lua in Go and the machine may be
// loaded (-race, parallel packages). 50ms calls then fail now and then.
const testTimeout = 5 * time.Second

// quiet is a logger that discards everything.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
