package sluicetest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// at is a fixed clock, so that the examples print the same every run.
func at() time.Time { return time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC) }

// get sends a GET through rt and prints the status and the headers named.
func get(rt http.RoundTripper, url string, hdr map[string]string, show ...string) *http.Response {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		fmt.Println("error:", err)
		return nil
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	fmt.Print(res.StatusCode)
	for _, k := range show {
		fmt.Printf(" %s=%s", k, res.Header.Get(k))
	}
	fmt.Println()
	return res
}

func ExampleNewServer() {
	srv := sluicetest.NewServer(sluicetest.Options{
		Limit:   sluicetest.FixedWindow(3, time.Hour), // hidden from the client
		Dialect: sluicetest.DialectGitHub,             // how the limit is reported
		Now:     at,
	})
	defer srv.Close()
	for range 4 {
		get(srv.Client().Transport, srv.URL+"/repos/o/r", nil, "X-Ratelimit-Remaining")
	}
	st := srv.Stats()
	fmt.Printf("accepted %d, rejected %d\n", st.Accepted, st.Rejected)
	// Output:
	// 200 X-Ratelimit-Remaining=2
	// 200 X-Ratelimit-Remaining=1
	// 200 X-Ratelimit-Remaining=0
	// 403 X-Ratelimit-Remaining=0
	// accepted 3, rejected 1
}

// A Provider serves requests in memory too, as an http.RoundTripper: no
// network, and usable inside a testing/synctest bubble.
func ExampleProvider_RoundTrip() {
	p := sluicetest.NewProvider(sluicetest.Options{
		Limit:   sluicetest.TokenBucket(1, 2),
		Dialect: sluicetest.DialectIETF,
		Now:     at,
	})
	client := &http.Client{Transport: p}
	for range 3 {
		get(client.Transport, "http://api.test/v1/items", nil, "Ratelimit", "Retry-After")
	}
	// Output:
	// 200 Ratelimit="default";r=1;t=1 Retry-After=
	// 200 Ratelimit="default";r=0;t=1 Retry-After=
	// 429 Ratelimit="default";r=0;t=1 Retry-After=
}

// With ETags, a conditional GET naming the current version gets a 304; with
// FreeNotModified it costs nothing, as on GitHub.
func ExampleOptions_eTags() {
	p := sluicetest.NewProvider(sluicetest.Options{
		Limit:           sluicetest.FixedWindow(5000, time.Hour),
		Dialect:         sluicetest.DialectGitHub,
		ETags:           true,
		FreeNotModified: true,
		Now:             at,
	})
	res := get(p, "http://api.test/repos/o/r", nil, "X-Ratelimit-Remaining")
	cond := map[string]string{"If-None-Match": res.Header.Get("Etag")}
	get(p, "http://api.test/repos/o/r", cond, "X-Ratelimit-Remaining")
	p.Touch("/repos/o/r") // the resource changes
	get(p, "http://api.test/repos/o/r", cond, "X-Ratelimit-Remaining")
	st := p.Stats()
	fmt.Printf("charged %d, free 304s %d\n", st.Accepted, st.NotModified)
	// Output:
	// 200 X-Ratelimit-Remaining=4999
	// 304 X-Ratelimit-Remaining=4999
	// 200 X-Ratelimit-Remaining=4998
	// charged 2, free 304s 1
}

// A secondary limit refuses a client that goes too fast and blocks it for
// a penalty, here with GitHub's 403 and Retry-After.
func ExampleSecondaryLimit() {
	p := sluicetest.NewProvider(sluicetest.Options{
		Limit:   sluicetest.FixedWindow(5000, time.Hour),
		Dialect: sluicetest.DialectGitHub,
		Secondary: &sluicetest.SecondaryLimit{
			Limit:   sluicetest.FixedWindow(2, time.Minute), // 2 a minute
			Penalty: 30 * time.Second,
			Hint:    sluicetest.HintRetryAfter,
		},
		Now: at,
	})
	for range 4 {
		get(p, "http://api.test/search/code", nil, "Retry-After", "X-Ratelimit-Remaining")
	}
	st := p.Stats()
	fmt.Printf("accepted %d, refused by the secondary limit %d\n", st.Accepted, st.Secondary)
	// Output:
	// 200 Retry-After= X-Ratelimit-Remaining=4999
	// 200 Retry-After= X-Ratelimit-Remaining=4998
	// 403 Retry-After=30 X-Ratelimit-Remaining=4998
	// 403 Retry-After=30 X-Ratelimit-Remaining=4998
	// accepted 2, refused by the secondary limit 2
}

// DialectStripe performs a POST with an Idempotency-Key once: a retry after
// a lost answer gets the stored one.
func Example_stripe() {
	p := sluicetest.NewProvider(sluicetest.Options{
		Dialect: sluicetest.DialectStripe,
		Faults:  sluicetest.Faults{LostRatio: 0.5, Seed: 3},
		Now:     at,
	})
	for try := 1; try <= 3; try++ {
		req, _ := http.NewRequest(http.MethodPost, "http://api.test/v1/customers", strings.NewReader("email=a@example.com"))
		req.Header.Set("Idempotency-Key", "create-customer-a")
		res, err := p.RoundTrip(req)
		if err != nil {
			fmt.Printf("try %d: answer lost\n", try)
			continue
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		fmt.Printf("try %d: %d replayed=%s %s", try, res.StatusCode, res.Header.Get("Idempotent-Replayed"), body)
	}
	st := p.Stats()
	fmt.Printf("performed %d, replayed %d, duplicates %d\n", st.Accepted-st.Replays, st.Replays, st.Duplicates)
	// Output:
	// try 1: answer lost
	// try 2: 200 replayed=true {"method":"POST","path":"/v1/customers","cost":1,"n":1}
	// try 3: answer lost
	// performed 1, replayed 2, duplicates 0
}
