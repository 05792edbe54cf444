// Command github runs go-github through a sluice.Transport against a
// simulated GitHub (sluicetest, GitHub's headers and secondary limit) and
// prints what the provider saw.
//
//	go run ./github
//
// The functions here are the snippets of docs/sdks.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v93/github"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// newTransport is sluice's configuration for GitHub at base: at most three
// requests in flight, since GitHub's secondary limit punishes concurrency.
// The primary quota (5000/h) is learned from the x-ratelimit headers; by
// default (quota.burst_fraction 1) a job that fits in what remains runs at
// full speed, and only one that would run out is spread to the reset.
func newTransport(base string, concurrency int) (*sluice.Transport, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return sluice.NewTransport(sluice.Config{
		Routes: []sluice.Route{{
			Name:  "github",
			Match: sluice.Match{Host: u.Hostname()}, // api.github.com in production
			Policy: sluice.Policy{
				Concurrency: concurrency, // 3 here; -1 for no cap
				Retry:       &sluice.RetryConfig{MaxAttempts: 3, MaxRetryAfter: 10 * time.Second},
			},
		}},
	}, nil)
}

// newGitHubClient wires go-github to sluice. go-github has no retries of
// its own to turn off; it keeps its local "quota spent" check, which fails
// fast with *github.RateLimitError.
func newGitHubClient(tr *sluice.Transport, base, token string) (*github.Client, error) {
	return github.NewClient(
		github.WithHTTPClient(&http.Client{Transport: tr}),
		github.WithURLs(&base, &base), // omit both in production
		github.WithAuthToken(token),
	)
}

// repoHandler answers GET /repos/{owner}/{repo} like GitHub, with a small
// repository object.
var repoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != "repos" {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": 1, "name": parts[2], "full_name": parts[1] + "/" + parts[2],
		"owner": map[string]any{"login": parts[1]},
	})
})

// fetchAll gets n repositories from workers goroutines and returns how many
// came back and the errors seen, by type.
func fetchAll(ctx context.Context, gh *github.Client, n, workers int) (ok int, errs map[string]int) {
	var mu sync.Mutex
	errs = map[string]int{}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				_, _, err := gh.Repositories.Get(ctx, "octo", fmt.Sprintf("repo%d", i))
				mu.Lock()
				if err != nil {
					errs[errKind(err)]++
				} else {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return ok, errs
}

// errKind names what a go-github call failed with.
func errKind(err error) string {
	var rl *github.RateLimitError
	var ab *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		return "github.RateLimitError"
	case errors.As(err, &ab):
		return "github.AbuseRateLimitError"
	case errors.Is(err, sluice.ErrRateLimited):
		return "sluice.ErrRateLimited"
	case errors.Is(err, sluice.ErrRetriesExhausted):
		return "sluice.ErrRetriesExhausted"
	}
	return fmt.Sprintf("%T", err)
}

func run(ctx context.Context, w io.Writer) error {
	// GitHub's secondary limit: more than 3 requests at once, and the
	// client is refused for a second.
	srv := sluicetest.NewServer(sluicetest.Options{
		Limit:     sluicetest.FixedWindow(5000, time.Hour),
		Dialect:   sluicetest.DialectGitHub,
		Secondary: &sluicetest.SecondaryLimit{MaxConcurrent: 3, Penalty: time.Second, Hint: sluicetest.HintRetryAfter},
		Faults:    sluicetest.Faults{Latency: 20 * time.Millisecond},
		Handler:   repoHandler,
	})
	defer srv.Close()
	tr, err := newTransport(srv.URL, 3)
	if err != nil {
		return err
	}
	defer tr.Close()
	gh, err := newGitHubClient(tr, srv.URL+"/", "ghp_example")
	if err != nil {
		return err
	}
	start := time.Now()
	ok, errs := fetchAll(ctx, gh, 30, 10)
	st := srv.Stats()
	fmt.Fprintf(w, "go-github through sluice (concurrency 3): %d/30 ok in %v, errors %v\n", ok, time.Since(start).Round(10*time.Millisecond), errs)
	fmt.Fprintf(w, "GitHub saw %d requests, %d refused by the secondary limit, at most %d at once\n", st.Requests, st.Secondary, st.MaxInFlight)
	return nil
}
