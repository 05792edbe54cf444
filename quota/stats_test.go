package quota

import (
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// TestStatsAfterReset: Remaining is a whole number, and once a GitHub
// window's reset has passed Stats reports that reset (the bucket is full
// since then), not the zero time; a window of known length reports the
// next restart. Fails before the fix: Reset was the zero time.
func TestStatsAfterReset(t *testing.T) {
	tests := []struct {
		name    string
		dialect Dialect
		resp    func(start time.Time) *http.Response
		later   time.Duration // how long after the first response Stats is read
		reset   time.Duration // the Reset Stats should report, from start
	}{
		{"github, window unknown", DialectGitHub, func(start time.Time) *http.Response {
			return respAt(start, 200, "X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "10",
				"X-RateLimit-Reset", fmt.Sprint(start.Add(10*time.Second).Unix()), "X-RateLimit-Resource", "core")
		}, 25 * time.Second, 10 * time.Second},
		{"reddit, 10 min window", DialectReddit, func(start time.Time) *http.Response {
			return respAt(start, 200, "X-Ratelimit-Used", "50", "X-Ratelimit-Remaining", "50.0", "X-Ratelimit-Reset", "10")
		}, 25*time.Minute + time.Second, 10*time.Second + 30*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now().Truncate(time.Second)
				time.Sleep(time.Until(start.Add(time.Second)))
				start = start.Add(time.Second)
				tr := newTestTracker(t, TrackerOptions{Dialect: tt.dialect})
				feed(t, tr, "api", Cost{}, tt.resp(start))
				time.Sleep(tt.later)
				st := tr.Stats()
				if len(st) != 1 {
					t.Fatalf("Stats() = %+v, want one bucket", st)
				}
				s := st[0]
				if s.Remaining != int64(s.Limit) {
					t.Errorf("Remaining = %d after the reset, want the limit %v", s.Remaining, s.Limit)
				}
				if got := s.Reset.Sub(start); got != tt.reset {
					t.Errorf("Reset = start+%v (%v), want start+%v", got, s.Reset, tt.reset)
				}
			})
		})
	}
}
