package quota

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// githubResp is a GitHub response stating remaining and reset (epoch
// seconds), sent at serverNow.
func githubResp(serverNow time.Time, remaining string, reset time.Time) []string {
	return []string{"X-RateLimit-Limit", "50", "X-RateLimit-Remaining", remaining,
		"X-RateLimit-Reset", unix(reset), "X-RateLimit-Resource", "core"}
}

// A fixed window's reset does not move while the window lasts: when
// responses state it a second apart (whole-second rounding from slightly
// different instants), the Tracker keeps the earliest, whatever the order
// and even if the count restarts; resets further apart are taken as they
// come.
func TestTrackerKeepsEarliestWindowReset(t *testing.T) {
	tests := []struct {
		name   string
		first  time.Duration // reset of the first response, from start
		rem    string        // remaining in the second response
		second time.Duration // reset of the second response
		want   time.Duration
	}{
		{"late after on time", time.Second, "39", 2 * time.Second, time.Second},
		{"on time after late", 2 * time.Second, "39", time.Second, time.Second},
		{"count restarted", time.Second, "49", 2 * time.Second, time.Second},
		{"far apart", time.Second, "39", 10 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTestTracker(t, TrackerOptions{Dialect: DialectGitHub})
				start := time.Now()
				feed(t, tr, "api", Cost{}, respAt(start, 200, githubResp(start, "40", start.Add(tt.first))...))
				feed(t, tr, "api", Cost{}, respAt(start, 200, githubResp(start, tt.rem, start.Add(tt.second))...))
				st := tr.Stats()
				if len(st) != 1 {
					t.Fatalf("Stats() = %+v, want one bucket", st)
				}
				if got := st[0].Reset.Sub(start); got != tt.want {
					t.Errorf("reset at %v, want %v", got, tt.want)
				}
			})
		})
	}
}

// The response to a request sent just before a window's reset, arriving
// after it, describes the window that ended: it must not make the Tracker
// forget the requests already granted in the new window.
func TestTrackerIgnoresEndedWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectGitHub})
		start := time.Now()
		reset := start.Add(time.Second)
		feed(t, tr, "api", Cost{}, respAt(start, 200, githubResp(start, "10", reset)...))
		doneA, err := tr.Acquire(context.Background(), "api", Cost{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(reset.Sub(time.Now()) + time.Millisecond)
		for range 2 { // granted in the new window, still in flight
			if _, err := tr.Acquire(context.Background(), "api", Cost{}); err != nil {
				t.Fatal(err)
			}
		}
		doneA(respAt(start, 200, githubResp(start, "9", reset)...), nil)
		st := tr.Stats()
		if len(st) != 1 {
			t.Fatalf("Stats() = %+v, want one bucket", st)
		}
		if got := st[0].Remaining; got != 48 {
			t.Errorf("Remaining = %v, want 48 (a new window of 50, 2 in flight)", got)
		}
	})
}

// Resets converted through different local instants may differ from whole
// seconds by a few nanoseconds (wall and monotonic readings are taken apart):
// they are still the same window's.
func TestWindowResetSlack(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	known := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	tests := []struct {
		name string
		obs  time.Time
		want time.Time
	}{
		{"a second and 5 ns later", known.Add(time.Second + 5), known},
		{"5 ns earlier", known.Add(-5), known.Add(-5)},
		{"two seconds later", known.Add(2 * time.Second), known.Add(2 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bucket{limit: 50, remaining: 20, reset: known}
			o := Observation{Limit: 50, Remaining: 19, Reset: tt.obs}
			if got := b.windowReset(o, now); !got.Equal(tt.want) {
				t.Errorf("windowReset = %v, want %v", got, tt.want)
			}
		})
	}
}
