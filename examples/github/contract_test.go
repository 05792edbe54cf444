package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-github/v93/github"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func TestRateLimitErrorWhenQuotaSpent(t *testing.T) {
	// Five requests an hour; another client has spent them all.
	srv, gh, _ := setup(t, sluicetest.Options{Limit: sluicetest.TokenBucket(5.0/3600, 5)}, 3)
	for range 5 {
		res, err := srv.Client().Get(srv.URL + "/repos/octo/other")
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()

	// The provider answers 403 with no quota left; the wait (an hour) is
	// past the deadline, so sluice hands go-github that response.
	_, resp, err := gh.Repositories.Get(ctx, "octo", "repo")
	var rl *github.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("first call: err = %v (%T), want *github.RateLimitError", err, err)
	}
	if resp == nil || resp.Rate.Limit != 5 || resp.Rate.Remaining != 0 || time.Until(resp.Rate.Reset.Time) < 30*time.Minute {
		t.Fatalf("first call: resp = %+v, want Rate{Limit: 5, Remaining: 0, Reset: about an hour away}", resp)
	}
	if got := srv.Stats().Requests; got != 6 {
		t.Errorf("provider saw %d requests, want 6 (5 + 1: sluice does not retry a wait past the deadline)", got)
	}

	// go-github now knows the quota is spent and fails fast on its own.
	_, resp, err = gh.Repositories.Get(ctx, "octo", "repo")
	if !errors.As(err, &rl) || resp == nil || resp.Rate.Remaining != 0 {
		t.Errorf("second call: err = %v, resp = %+v; want go-github's own RateLimitError with Rate", err, resp)
	}

	// With go-github's check bypassed, sluice refuses it before sending:
	// the route is paused after the 403 and the learned quota is spent
	// for an hour, past the deadline.
	_, _, err = gh.Repositories.Get(context.WithValue(ctx, github.BypassRateLimitCheck, true), "octo", "repo")
	if !errors.Is(err, sluice.ErrRateLimited) {
		t.Errorf("bypassed call: err = %v, want sluice.ErrRateLimited", err)
	}
	if got := srv.Stats().Requests; got != 6 {
		t.Errorf("provider saw %d requests, want still 6", got)
	}
}

func TestCacheHitIsMarkedForGoGitHub(t *testing.T) {
	// go-github skips its rate bookkeeping for responses marked
	// X-From-Cache, so an old cached answer does not rewind its view of the
	// quota (remaining 4997 back to 4999).
	srv := sluicetest.NewServer(sluicetest.Options{Limit: sluicetest.FixedWindow(5000, time.Hour), Dialect: sluicetest.DialectGitHub, Handler: repoHandler})
	defer srv.Close()
	tr, err := sluice.NewTransport(sluice.Config{Defaults: sluice.Policy{Cache: &sluice.CacheConfig{TTL: time.Minute}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	gh, err := newGitHubClient(tr, srv.URL+"/", "ghp_test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, repo := range []string{"a", "b"} {
		if _, resp, err := gh.Repositories.Get(ctx, "octo", repo); err != nil || resp.Header.Get("X-From-Cache") != "" {
			t.Fatalf("live call: err %v, X-From-Cache %q; want a live answer", err, resp.Header.Get("X-From-Cache"))
		}
	}
	_, resp, err := gh.Repositories.Get(ctx, "octo", "a")
	if err != nil || resp.Header.Get("X-From-Cache") == "" {
		t.Fatalf("cached call: err %v, X-From-Cache %q; want a cache hit marked X-From-Cache", err, resp.Header.Get("X-From-Cache"))
	}
	if got := srv.Stats().Requests; got != 2 {
		t.Errorf("provider saw %d requests for 3 calls, want 2", got)
	}
}

func TestSecondaryLimitErrorsThroughGoGitHub(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		hint    sluicetest.SecondaryHint
		wantErr string
	}{
		// Retry-After 60 s is past the route's MaxRetryAfter (10 s): sluice
		// hands the answer over at once.
		{"403 with Retry-After", 403, sluicetest.HintRetryAfter, "github.AbuseRateLimitError"},
		{"429 with Retry-After", 429, sluicetest.HintRetryAfter, "github.AbuseRateLimitError"},
		// remaining 0 with a reset: go-github reads it as the primary limit.
		{"403 with reset", 403, sluicetest.HintReset, "github.RateLimitError"},
		// No hint: sluice and go-github both take the primary reset (at the
		// next whole hour) as the wait.
		{"403 without a hint", 403, sluicetest.HintNone, "github.AbuseRateLimitError"},
		{"429 without a hint", 429, sluicetest.HintNone, "github.AbuseRateLimitError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, gh, _ := setup(t, sluicetest.Options{
				Limit: sluicetest.FixedWindow(5000, time.Hour),
				Secondary: &sluicetest.SecondaryLimit{Limit: sluicetest.FixedWindow(1, time.Minute), Penalty: time.Minute,
					Status: tt.status, Hint: tt.hint},
			}, 3)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if _, _, err := gh.Repositories.Get(ctx, "octo", "first"); err != nil {
				t.Fatal(err)
			}
			_, resp, err := gh.Repositories.Get(ctx, "octo", "second")
			if got := errKind(err); got != tt.wantErr || resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("err = %v (%s), resp %v; want %s with the %d", err, got, resp, tt.wantErr, tt.status)
			}
			var ab *github.AbuseRateLimitError
			if errors.As(err, &ab) && ab.RetryAfter == nil {
				t.Errorf("AbuseRateLimitError without RetryAfter")
			}
			if got := srv.Stats().Requests; got != 2 {
				t.Errorf("provider saw %d requests, want 2 (sluice does not retry a wait past MaxRetryAfter)", got)
			}
		})
	}
}
