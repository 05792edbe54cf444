package quota

import (
	"context"
	"errors"
	"net/http"
	"strconv"
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

// Within a fixed window the server's count only goes down, so a response
// tells which requests were counted: its own and every one whose response
// reported more. However the server ordered three requests and however
// their responses arrive, the Tracker ends with the server's count (7 of
// 10) and grants exactly those 7 before the reset. Counting by grant order
// double-counted a request the server counted before an earlier grant and
// ended at 6.
func TestFixedWindowCountsByResponse(t *testing.T) {
	tests := []struct {
		name    string
		reports [3]string // remaining reported to grants 0, 1, 2
		order   [3]int    // the order their responses arrive in
	}{
		{"counted and answered in order", [3]string{"9", "8", "7"}, [3]int{0, 1, 2}},
		{"second counted first, answered in order", [3]string{"8", "9", "7"}, [3]int{0, 1, 2}},
		{"counted in reverse, answered in order", [3]string{"7", "8", "9"}, [3]int{0, 1, 2}},
		{"counted in order, answered in reverse", [3]string{"9", "8", "7"}, [3]int{2, 1, 0}},
		{"second counted first, answered last", [3]string{"8", "9", "7"}, [3]int{0, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTestTracker(t, TrackerOptions{Dialect: DialectGitHub, BurstFraction: 1})
				start := time.Now()
				reset := start.Add(10 * time.Second)
				resp := func(rem string) *http.Response {
					return respAt(start, 200, "X-RateLimit-Limit", "10", "X-RateLimit-Remaining", rem,
						"X-RateLimit-Reset", unix(reset), "X-RateLimit-Resource", "core")
				}
				feed(t, tr, "api", Cost{}, resp("10"))
				var dones [3]func(*http.Response, error)
				for i := range dones {
					d, err := tr.Acquire(context.Background(), "api", Cost{})
					if err != nil {
						t.Fatal(err)
					}
					dones[i] = d
				}
				for _, i := range tt.order {
					time.Sleep(time.Millisecond) // each answered after the last applied one
					dones[i](resp(tt.reports[i]), nil)
				}
				if s := tr.Stats(); len(s) != 1 || s[0].Remaining != 7 {
					t.Fatalf("Stats = %+v, want remaining 7", s)
				}
				for i := range 7 {
					if got := acquireAt(t, tr, start, Cost{}); got != 3*time.Millisecond {
						t.Fatalf("grant %d of the 7 left at %v, want at once (3ms)", i+1, got)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				var we *WaitError
				if _, err := tr.Acquire(ctx, "api", Cost{}); !errors.As(err, &we) || we.Wait != reset.Sub(time.Now()) {
					t.Errorf("8th Acquire = %v, want a WaitError of %v (the reset)", err, reset.Sub(time.Now()))
				}
			})
		})
	}
}

// A request held because the window's last units are drawn by grants in
// flight goes as soon as their answers show units left (the server had
// counted them before the response that reported the least), not at the
// reset 10 s away.
func TestFixedWindowHeldUntilAnswersNotReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectGitHub, BurstFraction: 1})
		start := time.Now()
		reset := start.Add(10 * time.Second)
		resp := func(rem int) *http.Response {
			return respAt(start, 200, "X-RateLimit-Limit", "10", "X-RateLimit-Remaining", strconv.Itoa(rem),
				"X-RateLimit-Reset", unix(reset), "X-RateLimit-Resource", "core")
		}
		feed(t, tr, "api", Cost{}, resp(10))
		var dones []func(*http.Response, error)
		for range 8 {
			d, err := tr.Acquire(context.Background(), "api", Cost{})
			if err != nil {
				t.Fatal(err)
			}
			dones = append(dones, d)
		}
		// The server counted the 8 in grant order (9 .. 2 left); the last
		// is answered first, the other 7 at 100 ms.
		dones[7](resp(2), nil)
		go func() {
			time.Sleep(100 * time.Millisecond)
			for i := range 7 {
				dones[i](resp(9-i), nil)
			}
		}()
		for i := range 2 {
			if got := acquireAt(t, tr, start, Cost{}); got < 100*time.Millisecond || got > 150*time.Millisecond {
				t.Errorf("held request %d granted at %v, want soon after the answers at 100ms", i+1, got)
			}
		}
		if got := acquireAt(t, tr, start, Cost{}); got != reset.Sub(start) {
			t.Errorf("request past the window's 10 granted at %v, want at the reset %v", got, reset.Sub(start))
		}
	})
}

// A response to a request that drew nothing from the window (a 304 GitHub
// does not charge) does not count as the response of the latest grant,
// still in flight: that grant stays unseen, so a 304 reporting the count
// from before it leaves 9 of 10, not 10.
func TestFixedWindowUnchargedResponseSeesNoGrant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectGitHub, BurstFraction: 1})
		start := time.Now()
		reset := start.Add(10 * time.Second)
		resp := func(status int, rem string) *http.Response {
			return respAt(start, status, "X-RateLimit-Limit", "10", "X-RateLimit-Remaining", rem,
				"X-RateLimit-Reset", unix(reset), "X-RateLimit-Resource", "core")
		}
		feed(t, tr, "api", Cost{}, resp(200, "10"))
		if _, err := tr.Acquire(context.Background(), "api", Cost{}); err != nil { // in flight
			t.Fatal(err)
		}
		feed(t, tr, "api", Cost{Revalidation: true}, resp(http.StatusNotModified, "10"))
		if s := tr.Stats(); len(s) != 1 || s[0].Remaining != 9 {
			t.Errorf("Stats = %+v, want remaining 9 (one request in flight)", s)
		}
	})
}

// A grant given back unsent (done(nil, nil)) was never counted: it does not
// hold a unit of the window until the reset.
func TestFixedWindowUnsentGrantFreesItsUnit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectGitHub, BurstFraction: 1})
		start := time.Now()
		reset := start.Add(10 * time.Second)
		feed(t, tr, "api", Cost{}, respAt(start, 200, "X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "5",
			"X-RateLimit-Reset", unix(reset), "X-RateLimit-Resource", "core"))
		for range 3 {
			done, err := tr.Acquire(context.Background(), "api", Cost{})
			if err != nil {
				t.Fatal(err)
			}
			done(nil, nil)
		}
		if s := tr.Stats(); len(s) != 1 || s[0].Remaining != 5 {
			t.Errorf("Stats = %+v, want remaining 5 (nothing was sent)", s)
		}
	})
}
