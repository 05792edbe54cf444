package limit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/limit"
)

func ExampleParseRate() {
	for _, s := range []string{"100/min", "10/2s", "1000/day", "10/s,burst=20", "inf", "10/x"} {
		r, err := limit.ParseRate(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: %v per unit, burst %d\n", r, r.Interval(), r.BurstOrCount())
	}
	// Output:
	// 100/min: 600ms per unit, burst 100
	// 10/2s: 200ms per unit, burst 10
	// 1000/day: 1m26.4s per unit, burst 1000
	// 10/s,burst=20: 100ms per unit, burst 20
	// inf: 0s per unit, burst -1
	// limit: "10/x" is not a rate (want N/unit, e.g. 100/min): unknown unit "x"
}

func ExampleBucket() {
	ctx := context.Background()
	b, _ := limit.NewBucket(limit.PerSecond(10).WithBurst(3))
	for i := range 4 {
		r, _ := b.Allow(ctx, 1)
		fmt.Printf("request %d: allowed=%v remaining=%d retry after %v\n", i, r.Allowed, r.Remaining, r.RetryAfter.Round(10*time.Millisecond))
	}
	_, err := b.Allow(ctx, 5)
	fmt.Println(err)
	// Output:
	// request 0: allowed=true remaining=2 retry after 0s
	// request 1: allowed=true remaining=1 retry after 0s
	// request 2: allowed=true remaining=0 retry after 0s
	// request 3: allowed=false remaining=0 retry after 100ms
	// limit: cost exceeds burst: cost 5, burst 3
}

func ExampleBucket_Wait() {
	b, _ := limit.NewBucket(limit.PerMinute(1))
	_ = b.Wait(context.Background(), 1) // the one unit of this minute

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := b.Wait(ctx, 1) // returns at once: the next unit is a minute away
	var we *limit.WaitError
	if errors.As(err, &we) {
		fmt.Println(errors.Is(err, limit.ErrWouldExceedDeadline), we.Wait.Round(time.Second))
	}
	// Output:
	// true 1m0s
}

func ExampleNewMulti() {
	ctx := context.Background()
	perSecond, _ := limit.NewBucket(limit.PerSecond(10))
	perHour, _ := limit.NewWindow(limit.PerHour(2)) // a strict quota
	m, _ := limit.NewMulti(perSecond, perHour)
	for range 3 {
		r, _ := m.Allow(ctx, 1)
		fmt.Println(r.Allowed, r.RetryAfter.Round(time.Minute))
	}
	// The refused third request took nothing from the per-second bucket.
	r, _ := perSecond.Allow(ctx, 8)
	fmt.Println(r.Allowed)
	// Output:
	// true 0s
	// true 0s
	// false 1h0m0s
	// true
}

func ExampleWithPriority() {
	ctx := limit.WithPriority(context.Background(), limit.PriorityHigh)
	fmt.Println(limit.PriorityFrom(ctx), limit.PriorityFrom(context.Background()))
	// Output:
	// 10 0
}

func ExampleNewKeyed() {
	perTenant, _ := limit.NewKeyed(func(tenant string) (limit.Limiter, error) {
		return limit.NewBucket(limit.PerSecond(1))
	}, limit.KeyedOptions{MaxKeys: 100_000, IdleTTL: time.Hour})
	ctx := context.Background()
	for _, tenant := range []string{"acme", "acme", "globex"} {
		l, _ := perTenant.Get(tenant)
		r, _ := l.Allow(ctx, 1)
		fmt.Println(tenant, r.Allowed)
	}
	fmt.Println(perTenant.Len())
	// Output:
	// acme true
	// acme false
	// globex true
	// 2
}

// A Fair limiter caps the batch consumer at 30% of a route's 10/s and
// serves consumers in fair order when several wait.
func ExampleNewFair() {
	rate := limit.PerSecond(10)
	route, _ := limit.NewBucket(rate)
	f, _ := limit.NewFair(route, limit.FairOptions{
		Rates: []limit.Rate{rate},
		Share: func(consumer string) limit.Share {
			if consumer == "batch" {
				return limit.Share{Cap: 0.3} // at most 3/s, burst 3, even alone
			}
			return limit.Share{Weight: 1}
		},
	})
	batch := limit.WithConsumer(context.Background(), "batch")
	web := limit.WithConsumer(context.Background(), "web")
	for range 4 {
		r, _ := f.Allow(batch, 1)
		fmt.Print(r.Allowed, " ")
	}
	r, _ := f.Allow(web, 1)
	fmt.Println("| web:", r.Allowed)

	ctx, cancel := context.WithTimeout(batch, 100*time.Millisecond)
	defer cancel()
	err := f.Wait(ctx, 1) // the cap's next unit is 333ms away: refused at once
	var ce *limit.CapError
	fmt.Println(errors.As(err, &ce), ce.Consumer, ce.Cap, errors.Is(err, limit.ErrWouldExceedDeadline))
	// Output:
	// true true true false | web: true
	// true batch 0.3 true
}
