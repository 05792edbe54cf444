package quota_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/limit"
	"github.com/sluicehq/sluice/quota"
)

// A GitHub response whose Date says the server is ten minutes behind the
// local clock: the reset is still an hour ahead of local time.
func ExampleParse() {
	server := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	local := server.Add(10 * time.Minute)
	resp := &http.Response{StatusCode: 200, Header: http.Header{
		"Date":                  {server.Format(http.TimeFormat)},
		"X-Ratelimit-Limit":     {"5000"},
		"X-Ratelimit-Remaining": {"4999"},
		"X-Ratelimit-Reset":     {fmt.Sprint(server.Add(time.Hour).Unix())},
		"X-Ratelimit-Resource":  {"core"},
	}}
	s := quota.Parse(resp, local, quota.DialectAuto)
	for _, o := range s.Observations {
		fmt.Println(s.Dialect, o.Bucket, o.Unit, o.Limit, o.Remaining, o.Reset.Sub(local))
	}
	// Output: github github:core requests 5000 4999 1h0m0s
}

// An OpenAI 429 names two buckets; the wait is the Retry-After-less
// "latest reset among exhausted buckets".
func ExampleSignal_Wait() {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	resp := &http.Response{StatusCode: 429, Header: http.Header{
		"X-Ratelimit-Limit-Requests":     {"60"},
		"X-Ratelimit-Remaining-Requests": {"12"},
		"X-Ratelimit-Reset-Requests":     {"48s"},
		"X-Ratelimit-Limit-Tokens":       {"150000"},
		"X-Ratelimit-Remaining-Tokens":   {"0"},
		"X-Ratelimit-Reset-Tokens":       {"6m0s"},
	}}
	s := quota.Parse(resp, now, "")
	d, ok := s.Wait(now)
	fmt.Println(s.Throttled, d, ok)
	// Output: true 6m0s true
}

func ExampleParseDialect() {
	d, err := quota.ParseDialect("OpenAI")
	fmt.Println(d, err)
	_, err = quota.ParseDialect("openia")
	fmt.Println(err)
	// Output:
	// openai <nil>
	// quota: unknown dialect "openia" (want one of auto, none, retry-after, ietf, github, openai, anthropic, x, reddit, discord, shopify, azure, gitlab, generic)
}

// A Tracker learns GitHub's quota from a response; with the bucket empty
// for half an hour, a request whose context allows one second fails at
// once instead of waiting.
func ExampleTracker() {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tr, err := quota.NewTracker(quota.TrackerOptions{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	done, _ := tr.Acquire(context.Background(), "api.github.com", quota.Cost{Requests: 1})
	done(&http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{
		"Date":                  {now.Format(http.TimeFormat)},
		"X-Ratelimit-Limit":     {"5000"},
		"X-Ratelimit-Remaining": {"0"},
		"X-Ratelimit-Reset":     {fmt.Sprint(now.Add(30 * time.Minute).Unix())},
		"X-Ratelimit-Resource":  {"core"},
	}}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = tr.Acquire(ctx, "api.github.com", quota.Cost{Requests: 1})
	fmt.Println(err)
	fmt.Println(errors.Is(err, limit.ErrWouldExceedDeadline))
	for _, s := range tr.Stats() {
		fmt.Println(s.Host, s.Bucket, s.Limit, s.Remaining, s.Reset.Sub(now))
	}
	// Output:
	// quota: api.github.com github:core needs a wait of 30m0s, past the context deadline
	// true
	// api.github.com github:core 5000 0 30m0s
}
