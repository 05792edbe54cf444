package retry_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/retry"
)

func ExamplePolicy_Delay() {
	p := retry.Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	half := func() float64 { return 0.5 } // a real caller passes a random source
	for n := 1; n <= 5; n++ {
		fmt.Println(n, p.Delay(n, 0, half))
	}
	// Output:
	// 1 50ms
	// 2 100ms
	// 3 200ms
	// 4 400ms
	// 5 500ms
}

func ExampleParseRetryAfter() {
	h := http.Header{}
	h.Set("Date", "Sun, 06 Nov 1994 08:49:37 GMT")
	h.Set("Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT")
	// The local clock is an hour fast; the Date header keeps the wait right.
	now := time.Date(1994, 11, 6, 9, 49, 37, 0, time.UTC)
	d, ok := retry.ParseRetryAfter(h, now)
	fmt.Println(d, ok)

	h.Set("Retry-After-Ms", "1500")
	fmt.Println(retry.ParseRetryAfter(h, now))
	// Output:
	// 30s true
	// 1.5s true
}

func ExampleClassify() {
	ctx := context.Background()
	for _, code := range []int{200, 429, 500, 503} {
		resp := &http.Response{StatusCode: code, Header: http.Header{}}
		fmt.Println(code, retry.Classify(ctx, resp, nil))
	}
	// Output:
	// 200 success
	// 429 throttled
	// 500 permanent
	// 503 transient
}

func ExamplePolicy_MayRetry() {
	p := retry.Policy{}
	post, _ := http.NewRequest(http.MethodPost, "https://api.example.com/charges", nil)
	for _, code := range []int{503, 429} {
		resp := &http.Response{StatusCode: code, Header: http.Header{}}
		c := retry.Classify(context.Background(), resp, nil)
		fmt.Println("POST", code, p.MayRetry(post, resp, nil, c))
	}
	post.Header.Set("Idempotency-Key", "order-42")
	resp := &http.Response{StatusCode: 503, Header: http.Header{}}
	fmt.Println("POST with key 503", p.MayRetry(post, resp, nil, retry.Transient))
	// Output:
	// POST 503 false
	// POST 429 true
	// POST with key 503 true
}

func ExampleBudget() {
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	b, err := retry.NewBudget(retry.BudgetOptions{
		Ratio:        0.2,
		MinPerSecond: 1,
		TTL:          10 * time.Second,
		Now:          func() time.Time { return start },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	retries := 0
	for range 100 { // 100 failing requests, each wanting 2 retries
		b.Deposit()
		for range 2 {
			if b.TryWithdraw() {
				retries++
			}
		}
	}
	fmt.Println("retries granted:", retries) // 20% of 100 + 1/s * 10s
	// Output:
	// retries granted: 30
}
