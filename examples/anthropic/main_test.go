package main

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/sluicetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The job runs on fake time (synctest) against the provider in memory, so
// that the counts do not depend on the machine's load.
func TestWithCostKeepsTokensUnderTheLimit(t *testing.T) {
	tests := []struct {
		name          string
		cost          bool
		wantThrottled bool
		wantAtLeast   time.Duration // 12 calls of 310 tokens at sluice's 2700/s, 900 at once
	}{
		{"tokens passed with WithCost", true, false, time.Second},
		{"every call counted as 1", false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := sluicetest.NewProvider(providerOptions())
				defer p.Close()
				tr, err := newTransport("http://api.test", p)
				if err != nil {
					t.Fatal(err)
				}
				defer tr.Close()
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				start := time.Now()
				ok, last := askAll(ctx, newAnthropicClient(tr, "http://api.test"), 12, 4, tt.cost)
				elapsed := time.Since(start)
				st := p.Stats()
				// Counted as 1 each, the calls overrun the token limit: some
				// may fail once their retries are spent, which is the point.
				if ok != 12 && !tt.wantThrottled {
					t.Errorf("%d/12 ok, last error %v", ok, last)
				}
				if got := st.Rejected > 0; got != tt.wantThrottled {
					t.Errorf("provider throttled %d of %d requests; want some: %v", st.Rejected, st.Requests, tt.wantThrottled)
				}
				if !tt.wantThrottled && (st.Requests != 12 || elapsed < tt.wantAtLeast) {
					t.Errorf("provider saw %d requests in %v, want 12 in at least %v", st.Requests, elapsed, tt.wantAtLeast)
				}
				t.Logf("%d requests, %d throttled, in %v (fake time)", st.Requests, st.Rejected, elapsed)
			})
		})
	}
}
