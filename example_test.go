package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// A Transport wraps any *http.Client: here a provider that allows 20
// requests a second, burst 5, and a route limited to a little less, so that
// network jitter cannot push a request over the provider's limit.
func ExampleNewTransport() {
	srv := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.TokenBucket(20, 5), Dialect: sluicetest.DialectRetryAfter})
	defer srv.Close()

	cfg := sluice.Config{Routes: []sluice.Route{{
		Name:   "api",
		Match:  sluice.Match{Host: "127.0.0.1"},
		Policy: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "18/s", Burst: 4}}},
	}}}
	tr, err := sluice.NewTransport(cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	client := &http.Client{Transport: tr}

	for i := range 20 {
		resp, err := client.Get(fmt.Sprintf("%s/items/%d", srv.URL, i))
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
	}
	st, _ := tr.Stats().Route("api")
	fmt.Println("requests:", st.Requests, "successes:", st.Successes)
	// Output: requests: 20 successes: 20
}

// Validation names the bad field and value.
func ExampleParseConfig() {
	_, err := sluice.ParseConfig([]byte(`
routes:
  - name: github
    match: {host: api.github.com}
    limits:
      - rate: 5000/h
      - rate: 10/x
`))
	fmt.Println(err)
	// Output: routes[0].limits[1].rate (line 7): "10/x" is not a rate: want N/unit such as 100/min, 5000/h or 50/10s
}

// GetJSON decodes a JSON response into a typed value.
func ExampleGetJSON() {
	srv := sluicetest.NewServer(sluicetest.Options{})
	defer srv.Close()

	c, err := sluice.NewClient(sluice.Config{}, sluice.WithBaseURL(srv.URL), sluice.WithBearerToken("t0ken"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	type echo struct {
		Method string `json:"method"`
		Path   string `json:"path"`
	}
	got, err := sluice.GetJSON[echo](context.Background(), c, "/v1/widgets", nil)
	fmt.Println(got.Method, got.Path, err)
	// Output: GET /v1/widgets <nil>
}

// A wait that would pass the context's deadline is refused at once, with
// the wait it would have taken.
func ExampleRateLimitError() {
	srv := sluicetest.NewServer(sluicetest.Options{})
	defer srv.Close()
	cfg := sluice.Config{Defaults: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "1/min"}}}}
	c, _ := sluice.NewClient(cfg, sluice.WithBaseURL(srv.URL))
	defer c.Close()

	_, _ = c.Get(context.Background(), "/a", nil) // takes the minute's only request
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Get(ctx, "/b", nil)
	var rl *sluice.RateLimitError
	fmt.Println(errors.Is(err, sluice.ErrRateLimited), errors.As(err, &rl) && rl.Wait > 50*time.Second)
	// Output: true true
}
