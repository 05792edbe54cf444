package redislimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/limit"
	"github.com/sluicehq/sluice/limit/redislimit"
)

// exampleTimeout bounds Redis calls in these examples. The default, 50ms,
// suits a real server; miniredis runs Lua in Go and is slower under -race.
const exampleTimeout = 5 * time.Second

// startRedis stands in for a real server in these examples: an in-process
// miniredis with its clock stopped, so the output is exact.
func startRedis() (*miniredis.Miniredis, redis.UniversalClient) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	mr.SetTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	client, err := redislimit.NewClient(redislimit.Config{Addr: mr.Addr(), Timeout: exampleTimeout})
	if err != nil {
		panic(err)
	}
	return mr, client
}

// A bucket of 10 units per second with a burst of 3, shared by every
// process that uses the same Redis, prefix and name.
func ExampleNewBucket() {
	mr, client := startRedis()
	defer mr.Close()
	defer client.Close()

	l, err := redislimit.NewBucket(client, "github", limit.PerSecond(10).WithBurst(3), redislimit.Options{Timeout: exampleTimeout})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for range 4 {
		r, err := l.Allow(ctx, 1)
		fmt.Println(r.Allowed, r.Remaining, r.RetryAfter, err)
	}
	// Output:
	// true 2 0s <nil>
	// true 1 0s <nil>
	// true 0 0s <nil>
	// false 0 100ms <nil>
}

// Two windows taken all-or-nothing: 2 per second and 3 per minute. The
// third call asks for 2 units: the second window has room for only one
// more until its first grant is a minute old, so nothing is taken.
func ExampleNewWindow() {
	mr, client := startRedis()
	defer mr.Close()
	defer client.Close()

	l, err := redislimit.NewWindow(client, "openai", []limit.Rate{limit.PerSecond(2), limit.PerMinute(3)}, redislimit.Options{Timeout: exampleTimeout})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, n := range []int64{1, 1, 2} {
		r, _ := l.Allow(ctx, n)
		fmt.Println(r.Allowed, r.RetryAfter)
	}
	mr.SetTime(time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC)) // one second later
	for range 2 {
		r, _ := l.Allow(ctx, 1)
		fmt.Println(r.Allowed, r.RetryAfter)
	}
	// Output:
	// true 0s
	// true 0s
	// false 1m0s
	// true 0s
	// false 59s
}

// A pause set by one worker (after a 429 with Retry-After) is seen by
// every other worker in its next decision.
func ExampleLimiter_PauseUntil() {
	mr, client := startRedis()
	defer mr.Close()
	defer client.Close()

	opts := redislimit.Options{Prefix: "myapp", Timeout: exampleTimeout}
	worker1, _ := redislimit.NewBucket(client, "api", limit.PerSecond(100), opts)
	worker2, _ := redislimit.NewBucket(client, "api", limit.PerSecond(100), opts)

	ctx := context.Background()
	_ = worker1.PauseUntil(ctx, time.Now().Add(30*time.Second))
	r, _ := worker2.Allow(ctx, 1)
	fmt.Println(r.Allowed, r.RetryAfter.Round(time.Second))
	// Output:
	// false 30s
}

// Under FailDeny a decision fails with ErrUnavailable when Redis does not
// answer within the timeout.
func ExampleFailurePolicy() {
	mr, client := startRedis()
	defer client.Close()

	l, _ := redislimit.NewBucket(client, "api", limit.PerSecond(100), redislimit.Options{
		OnFailure: redislimit.FailDeny,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	mr.Close() // Redis goes away
	_, err := l.Allow(context.Background(), 1)
	fmt.Println(errors.Is(err, redislimit.ErrUnavailable), l.Stats().Down)
	// Output:
	// true true
}
