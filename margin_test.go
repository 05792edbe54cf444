package sluice

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/limit"
	"github.com/sluicehq/sluice/sluicetest"
)

// A configured token bucket is paced 0.5% under its rate and one unit under
// a burst of 10 or more; smaller bursts and Inf keep theirs.
func TestWithMargin(t *testing.T) {
	tests := []struct {
		in, want limit.Rate
	}{
		{limit.Rate{Count: 50, Period: time.Second, Burst: 10}, limit.Rate{Count: 50 * 199, Period: 200 * time.Second, Burst: 9}},
		{limit.Rate{Count: 20, Period: time.Second, Burst: 5}, limit.Rate{Count: 20 * 199, Period: 200 * time.Second, Burst: 5}},
		{limit.Rate{Count: 60, Period: time.Minute}, limit.Rate{Count: 60 * 199, Period: 200 * time.Minute, Burst: 59}},
		{limit.Rate{}, limit.Rate{}},
	}
	for _, tt := range tests {
		if got := withMargin(tt.in); got != tt.want {
			t.Errorf("withMargin(%+v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// 200 GETs from 16 workers with the route's limit configured to the
// provider's (50/s, burst 10), as bench/goodput's sluice-rate runs them:
// with no faults the job takes within 1.5% of the least time (200-10)/50 =
// 3.8 s, as x/time/rate at the exact rate does less 0.01 (0.995 with one
// lost request); with arrivals up to 15 ms late (less than the unit under
// the burst, 20 ms) the provider still throttles nothing. Paced 1% under
// the rate, the first took 3.859 s (0.985).
func TestConfiguredRateJob(t *testing.T) {
	tests := []struct {
		name       string
		faults     sluicetest.Faults
		minGoodput float64
	}{
		{"no faults", sluicetest.Faults{}, 0.985},
		{"arrivals up to 15 ms late", sluicetest.Faults{Jitter: 15 * time.Millisecond, Seed: 7}, 0.98},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := sluicetest.NewProvider(sluicetest.Options{Limit: sluicetest.TokenBucket(50, 10),
					Dialect: sluicetest.DialectRetryAfter, Faults: tt.faults})
				defer p.Close()
				cfg := Config{Routes: []Route{{Name: "api", Match: Match{Host: "api.example.com"},
					Policy: Policy{Limits: []LimitConfig{{Rate: "50/s", Burst: 10}}}}}}
				tr := newTestTransport(t, cfg, p)
				wall, failures := runJob(tr, 200, 16)
				st := p.Stats()
				goodput := 3.8 / wall.Seconds()
				t.Logf("wall %v, goodput %.4f, accepted %d, rejected %d, failures %d", wall, goodput, st.Accepted, st.Rejected, failures)
				if st.Rejected != 0 || failures != 0 || goodput < tt.minGoodput {
					t.Errorf("goodput %.4f (want >= %.3f), provider rejected %d, failures %d (want 0 and 0)",
						goodput, tt.minGoodput, st.Rejected, failures)
				}
			})
		})
	}
}
