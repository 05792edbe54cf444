package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-github/v93/github"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup starts a simulated GitHub and a go-github client through sluice.
func setup(t *testing.T, opts sluicetest.Options, concurrency int) (*sluicetest.Server, *github.Client, *sluice.Transport) {
	t.Helper()
	opts.Dialect = sluicetest.DialectGitHub
	opts.Handler = repoHandler
	srv := sluicetest.NewServer(opts)
	t.Cleanup(srv.Close)
	tr, err := newTransport(srv.URL, concurrency)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	gh, err := newGitHubClient(tr, srv.URL+"/", "ghp_test")
	if err != nil {
		t.Fatal(err)
	}
	return srv, gh, tr
}

func TestConcurrencyCapAvoidsSecondaryLimit(t *testing.T) {
	tests := []struct {
		name          string
		concurrency   int
		wantSecondary bool
	}{
		{"capped at 3", 3, false},
		{"uncapped", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, gh, _ := setup(t, sluicetest.Options{
				Limit:     sluicetest.FixedWindow(5000, time.Hour),
				Secondary: &sluicetest.SecondaryLimit{MaxConcurrent: 3, Hint: sluicetest.HintRetryAfter},
				Faults:    sluicetest.Faults{Latency: 20 * time.Millisecond},
			}, tt.concurrency)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			ok, errs := fetchAll(ctx, gh, 30, 10)
			st := srv.Stats()
			if got := st.Secondary > 0; got != tt.wantSecondary {
				t.Errorf("refused by the secondary limit: %d (max in flight %d); want some: %v", st.Secondary, st.MaxInFlight, tt.wantSecondary)
			}
			if !tt.wantSecondary && (ok != 30 || len(errs) > 0 || st.Requests != 30) {
				t.Errorf("%d/30 ok, errors %v, provider saw %d requests; want 30/30 in 30 requests", ok, errs, st.Requests)
			}
			t.Logf("%d/30 ok, errors %v; provider: %d requests, %d secondary refusals, max %d in flight", ok, errs, st.Requests, st.Secondary, st.MaxInFlight)
		})
	}
}
