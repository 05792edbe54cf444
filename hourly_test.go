package sluice

import (
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// hourlyJob sends n GETs with 8 workers through rt to p and returns the
// wall time and each request's send time (its answer less the provider's
// 10 ms latency), in order of answer.
func hourlyJob(t *testing.T, rt http.RoundTripper, n int) (time.Duration, []time.Time) {
	t.Helper()
	var mu sync.Mutex
	var sent []time.Time
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range jobs {
				req, _ := http.NewRequest("GET", "https://api.github.com/repos/a/b", nil)
				resp, err := rt.RoundTrip(req)
				at := time.Now().Add(-10 * time.Millisecond) // sent one latency before the answer
				if err != nil {
					t.Errorf("GET: %v", err)
					continue
				}
				drainClose(resp)
				mu.Lock()
				sent = append(sent, at)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return time.Since(start), sent
}

// A GitHub-style hourly quota of 5,000 with 4,990 left: a job of 60 GETs
// that fits takes at most twice its time without sluice (it took 23.9 s
// when the remainder was spread evenly to the hourly reset); with 30 left,
// 100 GETs draw no 403, the first 30 go before the reset and the rest after
// (with max_wait raised past the reset).
func TestHourlyQuotaBurstsWhatFits(t *testing.T) {
	for _, tt := range []struct {
		name      string
		spent, n  int
		wantAfter int // requests that must wait for the reset
	}{
		{"fits", 10, 60, 0},
		{"does not fit", 4970, 100, 70},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := sluicetest.Options{Dialect: sluicetest.DialectGitHub, Limit: sluicetest.FixedWindow(5000, time.Hour),
					Faults: sluicetest.Faults{Latency: 10 * time.Millisecond}}
				direct := sluicetest.NewProvider(opts)
				defer direct.Close()
				p := sluicetest.NewProvider(opts)
				defer p.Close()
				for range tt.spent {
					req, _ := http.NewRequest("GET", "https://api.github.com/rate", nil)
					resp, err := p.RoundTrip(req)
					if err != nil {
						t.Fatal(err)
					}
					drainClose(resp)
				}
				bare, _ := hourlyJob(t, direct, min(tt.n, 60))
				// Waiting for an hourly reset needs a max_wait past it (the
				// default, max_retry_after's 60 s, refuses such a wait at once).
				tr := newTestTransport(t, Config{Defaults: Policy{MaxWait: 2 * time.Hour}}, p)
				start := time.Now()
				wall, sent := hourlyJob(t, tr, tt.n)
				if st := p.Stats(); st.Rejected != 0 {
					t.Errorf("%d 403s, want 0", st.Rejected)
				}
				reset := start.Truncate(time.Hour).Add(time.Hour)
				after := 0
				for _, at := range sent {
					if !at.Before(reset) {
						after++
					}
				}
				t.Logf("%s: %d GETs in %v (without sluice: %v); %d sent after the reset", tt.name, tt.n, wall, bare, after)
				if tt.wantAfter == 0 && wall > 2*bare {
					t.Errorf("%d GETs took %v, want at most 2x %v (no limiter)", tt.n, wall, bare)
				}
				if after < tt.wantAfter || (tt.wantAfter > 0 && after > tt.wantAfter+8) {
					t.Errorf("%d requests sent after the reset, want %d", after, tt.wantAfter)
				}
			})
		})
	}
}
