package sluice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/sluicetest"
)

// scriptCounter is a go-redis hook counting the script calls that ran (a
// NOSCRIPT answer, followed by the EVAL that loads the script, is not a
// second decision).
type scriptCounter struct{ n atomic.Int64 }

func (*scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (*scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (c *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		name := strings.ToLower(cmd.Name())
		if (name == "evalsha" || name == "eval") && (err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT")) {
			c.n.Add(1)
		}
		return err
	}
}

// TestSharedWindowsOneScript: a route with two shared strict limits (10/s
// and 1/min) is decided by one script call per request, all or nothing.
// Before the windows of a route were one Redis limiter, each limit was its
// own limiter with its own hash tag: 2-6 script calls per decision, and a
// refused request could leave its grant in the 10/s window (one request
// sent, four refused, five grants held).
func TestSharedWindowsOneScript(t *testing.T) {
	client := testRedis(t)
	prefix := fmt.Sprintf("sluicetest-win-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := client.Keys(context.Background(), "{"+prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(context.Background(), keys...)
		}
	})
	var calls scriptCounter
	client.AddHook(&calls)
	srv := sluicetest.NewServer(sluicetest.Options{})
	defer srv.Close()
	cfg := Config{
		Redis: &RedisConfig{Client: client, Prefix: prefix},
		Routes: []Route{{Name: "api", Match: Match{Host: "127.0.0.1"}, Policy: Policy{
			Limits: []LimitConfig{{Rate: "10/s", Strict: true, Shared: true}, {Rate: "1/min", Strict: true, Shared: true}},
			Quota:  &QuotaConfig{Disabled: true},
			Retry:  &RetryConfig{MaxAttempts: 1},
		}}},
	}
	tr, err := NewTransport(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ok, refused := 0, 0
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/x/%d", srv.URL, i), nil)
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		took := time.Since(start)
		cancel()
		switch {
		case err == nil:
			resp.Body.Close()
			ok++
		case errors.Is(err, ErrRateLimited):
			refused++
			if took > 100*time.Millisecond {
				t.Errorf("request %d refused after %v: a wait no deadline allows must be refused at once", i, took)
			}
		default:
			t.Errorf("request %d: %v", i, err)
		}
	}
	if ok != 1 || refused != 4 {
		t.Errorf("%d sent, %d refused; want 1 and 4 (1/min)", ok, refused)
	}
	if n := calls.n.Load(); n != 5 {
		t.Errorf("%d script calls for 5 decisions, want 5 (one per decision)", n)
	}
	keys, _ := client.Keys(context.Background(), "{"+prefix+"*}:log").Result()
	if len(keys) != 1 {
		t.Fatalf("window logs %v, want one (both windows under one hash tag)", keys)
	}
	if n, _ := client.ZCard(context.Background(), keys[0]).Result(); n != 1 {
		t.Errorf("the shared windows hold %d grants after 1 request was sent, want 1 (a refused request takes nothing)", n)
	}
	if got := srv.Stats().Accepted; got != 1 {
		t.Errorf("provider accepted %d, want 1", got)
	}
}
