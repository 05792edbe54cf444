package quota

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// Responses to requests in flight arrive out of order: the response to a
// later request may report a count that misses an earlier one still
// unanswered, which then stays in flight until answered; its own response,
// reporting less remaining, lowers the count.
func TestTrackerOutOfOrderResponses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectShopify})
		start := time.Now()
		shop := func(used string) *http.Response {
			return respAt(start, 200, "X-Shopify-Shop-Api-Call-Limit", used+"/40")
		}
		remaining := func() int64 {
			st := tr.Stats()
			if len(st) != 1 {
				t.Fatalf("Stats() = %+v, want one bucket", st)
			}
			return st[0].Remaining
		}
		feed(t, tr, "shop", Cost{}, shop("1"))
		var done [2]func(*http.Response, error)
		for i := range done {
			d, err := tr.Acquire(context.Background(), "shop", Cost{})
			if err != nil {
				t.Fatal(err)
			}
			done[i] = d
		}
		steps := []struct {
			name string
			i    int    // the request answered
			used string // what its response reports
			want int64
		}{
			// The second request was counted first: 2 used, and the first
			// may not be counted yet.
			{"later request first", 1, "2", 37},
			// The first was counted after it: 3 used, nothing in flight.
			{"earlier request after", 0, "3", 37},
		}
		for _, s := range steps {
			done[s.i](shop(s.used), nil)
			if got := remaining(); got != s.want {
				t.Errorf("%s: Remaining = %v, want %v", s.name, got, s.want)
			}
		}
	})
}

// A response slower than another to a request sent at the same time may
// carry the older count: the server counted its request first. It may
// lower what is available but not raise it.
func TestTrackerSlowResponseDoesNotRaise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectShopify})
		start := time.Now()
		shop := func(used string) *http.Response {
			return respAt(start, 200, "X-Shopify-Shop-Api-Call-Limit", used+"/40")
		}
		feed(t, tr, "shop", Cost{}, shop("1"))
		time.Sleep(time.Millisecond)
		var done [2]func(*http.Response, error)
		for i := range done {
			d, err := tr.Acquire(context.Background(), "shop", Cost{})
			if err != nil {
				t.Fatal(err)
			}
			done[i] = d
		}
		time.Sleep(time.Millisecond)
		done[0](shop("3"), nil) // counted second; the second request may still be in flight
		time.Sleep(time.Millisecond)
		done[1](shop("2"), nil) // counted first, answered last: its 2 is out of date
		st := tr.Stats()
		if len(st) != 1 {
			t.Fatalf("Stats() = %+v, want one bucket", st)
		}
		// 37 remain in truth; 36 is the safe reading of what was said,
		// 38 would trust the out-of-date count.
		if got := st[0].Remaining; got != 36 {
			t.Errorf("Remaining = %v, want 36", got)
		}
	})
}

// A fixed window's quota granted in one pass and answered at that same
// instant (zero latency, or a coarse clock): which grant came before which
// response is told by the grant order, not the clock. The request granted
// last was counted first (9 left) but answered after the first request
// (counted second: 8 left); its count misses the first, which is already
// answered, so it must not raise what is held. Taking it as it came (all
// "granted at the last observation's instant") held one unit too many,
// and 3 to 20 requests went past GitHub's window once the Tracker granted
// a whole window at its reset in one pass.
func TestTrackerSameInstantCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{BurstFraction: 1})
		start := time.Now()
		gh := func(remaining string) *http.Response {
			return respAt(start, 200, "X-RateLimit-Limit", "10", "X-RateLimit-Remaining", remaining,
				"X-RateLimit-Reset", unix(start.Add(time.Second)), "X-RateLimit-Resource", "core")
		}
		feed(t, tr, "api", Cost{}, gh("10"))
		var done [10]func(*http.Response, error)
		for i := range done {
			d, err := tr.Acquire(context.Background(), "api", Cost{})
			if err != nil || time.Since(start) != 0 {
				t.Fatalf("request %d: %v after %v, want granted at once", i, err, time.Since(start))
			}
			done[i] = d
		}
		done[0](gh("8"), nil)
		done[9](gh("9"), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if d, err := tr.Acquire(ctx, "api", Cost{}); err == nil {
			d(nil, nil)
			t.Fatalf("an 11th request was granted at %v; the window has none left", time.Since(start))
		}
		for _, d := range done[1:9] {
			d(nil, nil)
		}
	})
}
