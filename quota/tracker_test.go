package quota

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// respAt builds a response whose Date is serverNow (whole seconds, as real
// servers send it) with the given status and header pairs.
func respAt(serverNow time.Time, status int, kv ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	h.Set("Date", serverNow.UTC().Format(http.TimeFormat))
	return &http.Response{StatusCode: status, Header: h, Body: http.NoBody}
}

// unix formats t as epoch seconds.
func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func newTestTracker(t *testing.T, o TrackerOptions) *Tracker {
	t.Helper()
	tr, err := NewTracker(o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// feed sends one request through tr and answers it with resp.
func feed(t *testing.T, tr *Tracker, host string, cost Cost, resp *http.Response) {
	t.Helper()
	done, err := tr.Acquire(context.Background(), host, cost)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	done(resp, nil)
}

// acquireAt acquires and returns the time since start at which it was
// granted; done is called with no response (the request is not observed).
func acquireAt(t *testing.T, tr *Tracker, start time.Time, cost Cost) time.Duration {
	t.Helper()
	done, err := tr.Acquire(context.Background(), "api", cost)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	done(nil, errors.New("not observed"))
	return time.Since(start)
}

// A fixed window with 10 left and the reset 1 s away: the 10 are spread
// evenly over the second (a fixed window keeps no headroom: its count
// resets at once), the 11th waits for the reset.
func TestTrackerSpreadsRemainingOverReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{})
		start := time.Now()
		feed(t, tr, "api", Cost{}, respAt(start, 200, "X-RateLimit-Limit", "20", "X-RateLimit-Remaining", "10",
			"X-RateLimit-Reset", unix(start.Add(time.Second)), "X-RateLimit-Resource", "core"))
		for i := range 10 {
			got, want := acquireAt(t, tr, start, Cost{}), time.Duration(i)*time.Second/10
			if d := got - want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("request %d granted at %v, want %v", i, got, want)
			}
		}
		if got := acquireAt(t, tr, start, Cost{}); got != time.Second {
			t.Errorf("11th request granted at %v, want 1s (the reset)", got)
		}
	})
}

// BurstFraction 1 sends the whole remaining quota of a fixed window at
// once: no unit is kept back, so a job that is a multiple of the window's
// limit does not wait one whole window more for its last request.
func TestTrackerBurstFraction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{BurstFraction: 1})
		start := time.Now()
		feed(t, tr, "api", Cost{}, respAt(start, 200, "X-RateLimit-Limit", "20", "X-RateLimit-Remaining", "5",
			"X-RateLimit-Reset", unix(start.Add(time.Second)), "X-RateLimit-Resource", "core"))
		for i := range 5 {
			if got := acquireAt(t, tr, start, Cost{}); got != 0 {
				t.Errorf("request %d granted at %v, want at once", i, got)
			}
		}
		if got := acquireAt(t, tr, start, Cost{}); got != time.Second {
			t.Errorf("6th request granted at %v, want 1s (the reset)", got)
		}
	})
}

// An exhausted bucket pauses until its reset, converted through Date: a
// local clock an hour ahead of the server changes nothing.
func TestTrackerPausesUntilResetDespiteSkew(t *testing.T) {
	for _, skew := range []time.Duration{0, time.Hour, -time.Hour} {
		synctest.Test(t, func(t *testing.T) {
			tr := newTestTracker(t, TrackerOptions{})
			start := time.Now()
			server := start.Add(-skew)
			feed(t, tr, "api", Cost{}, respAt(server, 200, "X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0",
				"X-RateLimit-Reset", unix(server.Add(5*time.Second)), "X-RateLimit-Resource", "core"))
			if got := acquireAt(t, tr, start, Cost{}); got != 5*time.Second {
				t.Errorf("skew %v: granted at %v, want 5s", skew, got)
			}
		})
	}
}

// Requests in flight count against the remaining quota until their
// responses say they were counted. A request that finds the last units
// drawn by grants in flight waits for their answers (they may have been
// counted already) rather than failing at once; once they show the window
// exhausted, a wait past its deadline fails.
func TestTrackerCountsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{BurstFraction: 1})
		start := time.Now()
		reset := unix(start.Add(10 * time.Second))
		resp := func(rem string) *http.Response {
			return respAt(start, 200, "X-RateLimit-Limit", "60", "X-RateLimit-Remaining", rem,
				"X-RateLimit-Reset", reset, "X-RateLimit-Resource", "core")
		}
		feed(t, tr, "api", Cost{}, resp("3"))
		var dones []func(*http.Response, error)
		for range 3 {
			d, err := tr.Acquire(context.Background(), "api", Cost{})
			if err != nil {
				t.Fatal(err)
			}
			dones = append(dones, d)
		}
		// The first response counts only its own request: the other two
		// are still in flight, so nothing is left for now.
		dones[0](resp("2"), nil)
		if s := tr.Stats(); len(s) != 1 || s[0].Remaining != 0 {
			t.Fatalf("Stats with 2 in flight = %+v, want remaining 0", s)
		}
		go func() {
			time.Sleep(100 * time.Millisecond)
			// The newest response says 0; a late one from an older
			// request (1) does not raise it.
			dones[2](resp("0"), nil)
			dones[1](resp("1"), nil)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := tr.Acquire(ctx, "api", Cost{})
		var we *WaitError
		if !errors.As(err, &we) || we.Wait <= 5*time.Second {
			t.Fatalf("Acquire with 2 in flight = %v, want a WaitError of about 10s once they are answered", err)
		}
		if got := time.Since(start); got < 100*time.Millisecond || got > 200*time.Millisecond {
			t.Errorf("WaitError after %v, want soon after the answers at 100ms", got)
		}
		if s := tr.Stats(); len(s) != 1 || s[0].Remaining != 0 {
			t.Errorf("Stats after a stale response = %+v, want remaining 0", s)
		}
	})
}

// A request with a token cost waits for the tokens bucket to refill at the
// rate its full-refill reset implies.
func TestTrackerTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{})
		start := time.Now()
		feed(t, tr, "llm", Cost{}, respAt(start, 200,
			"x-ratelimit-limit-requests", "100", "x-ratelimit-remaining-requests", "99", "x-ratelimit-reset-requests", "600ms",
			"x-ratelimit-limit-tokens", "1000", "x-ratelimit-remaining-tokens", "100", "x-ratelimit-reset-tokens", "6s"))
		// 900 tokens missing over 6 s: 150 tokens/s, paced at 98% (147/s).
		// 400 tokens plus one of headroom need 301 more: 301/147 s.
		done, err := tr.Acquire(context.Background(), "llm", Cost{Requests: 1, Tokens: 400})
		if err != nil {
			t.Fatal(err)
		}
		first := time.Since(start)
		if want := secs(301.0 / 147); first-want > time.Microsecond || want-first > time.Microsecond {
			t.Errorf("400-token request granted at %v, want %v", first, want)
		}
		done(nil, nil)
		// A request without tokens is not held by the (now empty) tokens
		// bucket beyond one token's refill.
		d2, _ := tr.Acquire(context.Background(), "llm", Cost{})
		if got := time.Since(start); got > first+20*time.Millisecond {
			t.Errorf("request without tokens granted at %v", got)
		}
		d2(nil, nil)
		var stats []BucketStats
		for _, s := range tr.Stats() {
			if s.Bucket == "openai:tokens" {
				stats = append(stats, s)
			}
		}
		if len(stats) != 1 || stats[0].Unit != Tokens || stats[0].Limit != 1000 || stats[0].Pace != 147 {
			t.Errorf("tokens stats = %+v, want unit tokens, limit 1000, pace 147/s (98%% of 150)", stats)
		}
	})
}

// Acquire never waits past the deadline: it returns a WaitError at once.
func TestTrackerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{})
		start := time.Now()
		feed(t, tr, "api", Cost{}, respAt(start, 429, "Retry-After", "30"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := tr.Acquire(ctx, "api", Cost{})
		var we *WaitError
		if !errors.As(err, &we) || !errors.Is(err, limit.ErrWouldExceedDeadline) || !errors.Is(err, ErrWouldExceedDeadline) {
			t.Fatalf("err = %v, want a *WaitError matching limit.ErrWouldExceedDeadline", err)
		}
		if we.Wait != 30*time.Second || we.Bucket != "host" || we.Host != "api" || time.Since(start) != 0 {
			t.Errorf("WaitError %+v after %v, want 30s on the host at once", we, time.Since(start))
		}
		// Canceled while waiting: ctx.Err().
		ctx2, cancel2 := context.WithCancel(context.Background())
		go func() { time.Sleep(time.Second); cancel2() }()
		if _, err := tr.Acquire(ctx2, "api", Cost{}); !errors.Is(err, context.Canceled) || time.Since(start) != time.Second {
			t.Errorf("canceled Acquire = %v after %v, want context.Canceled after 1s", err, time.Since(start))
		}
		// Another host is not affected.
		if got := time.Since(start); got != time.Second {
			t.Fatal(got)
		}
		done, err := tr.Acquire(context.Background(), "other", Cost{})
		if err != nil || time.Since(start) != time.Second {
			t.Errorf("other host: %v after %v", err, time.Since(start))
		}
		done(nil, nil)
	})
}

// Retry-After beats the reset of an exhausted bucket; a global Discord
// throttle pauses the host.
func TestTrackerThrottlePauses(t *testing.T) {
	tests := []struct {
		name string
		resp func(now time.Time) *http.Response
		want time.Duration
	}{
		{"github retry-after beats reset", func(now time.Time) *http.Response {
			return respAt(now, 429, "X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0",
				"X-RateLimit-Reset", unix(now.Add(time.Minute)), "X-RateLimit-Resource", "core", "Retry-After", "5")
		}, 5 * time.Second},
		{"github secondary limit waits a minute", func(now time.Time) *http.Response {
			r := respAt(now, 403, "X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4000",
				"X-RateLimit-Reset", unix(now.Add(time.Hour)), "X-RateLimit-Resource", "core")
			r.Body = io.NopCloser(strings.NewReader(`{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#secondary-rate-limits"}`))
			return r
		}, time.Minute},
		{"discord global", func(now time.Time) *http.Response {
			return respAt(now, 429, "X-RateLimit-Global", "true", "Retry-After", "3")
		}, 3 * time.Second},
		{"bare 429 with long retry-after", func(now time.Time) *http.Response {
			return respAt(now, 429, "Retry-After", "7")
		}, 7 * time.Second},
		{"bare 429 with retry-after 1 is rounding", func(now time.Time) *http.Response {
			return respAt(now, 429, "Retry-After", "1")
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTestTracker(t, TrackerOptions{Adaptive: AdaptiveOptions{Disabled: true}})
				start := time.Now()
				feed(t, tr, "api", Cost{}, tt.resp(start))
				if got := acquireAt(t, tr, start, Cost{}); got != tt.want {
					t.Errorf("granted at %v, want %v", got, tt.want)
				}
			})
		})
	}
}

// Buckets seen on some routes hold only requests on those routes.
func TestTrackerRoutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{})
		start := time.Now()
		search := Cost{Route: "GET /search/code"}
		feed(t, tr, "gh", search, respAt(start, 200, "X-RateLimit-Limit", "30", "X-RateLimit-Remaining", "0",
			"X-RateLimit-Reset", unix(start.Add(time.Minute)), "X-RateLimit-Resource", "search"))
		done, err := tr.Acquire(context.Background(), "gh", Cost{Route: "GET /repos/*"})
		if err != nil || time.Since(start) != 0 {
			t.Fatalf("other route: %v after %v, want at once", err, time.Since(start))
		}
		done(nil, nil)
		done, _ = tr.Acquire(context.Background(), "gh", search)
		if time.Since(start) != time.Minute {
			t.Errorf("search route granted after %v, want 1m", time.Since(start))
		}
		done(nil, nil)
	})
}

func TestRouteOf(t *testing.T) {
	for _, tt := range []struct{ method, url, want string }{
		{"GET", "https://api.github.com/repos/42/issues/7", "GET /repos/*/issues"},
		{"POST", "https://x/search/code?q=1", "POST /search/code"},
		{"GET", "https://x/", "GET /"},
	} {
		req, _ := http.NewRequest(tt.method, tt.url, nil)
		if got := RouteOf(req); got != tt.want {
			t.Errorf("RouteOf(%s %s) = %q, want %q", tt.method, tt.url, got, tt.want)
		}
	}
	if RouteOf(nil) != "" {
		t.Error("RouteOf(nil) not empty")
	}
}

func TestNewTrackerRejectsBadOptions(t *testing.T) {
	for _, o := range []TrackerOptions{
		{Dialect: "klingon"}, {MaxBuckets: -1}, {BurstFraction: 1.5},
		{Adaptive: AdaptiveOptions{Beta: 1}}, {Adaptive: AdaptiveOptions{MinRate: -1}},
		{Adaptive: AdaptiveOptions{MinRate: 5, MaxRate: 1}},
	} {
		if _, err := NewTracker(o); err == nil {
			t.Errorf("NewTracker(%+v) succeeded", o)
		}
	}
}

// MaxBuckets bounds memory: the least recently used bucket goes.
func TestTrackerMaxBuckets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{MaxBuckets: 2})
		for i := range 5 {
			time.Sleep(time.Second)
			feed(t, tr, "h"+strconv.Itoa(i), Cost{}, respAt(time.Now(), 200, "X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "5"))
		}
		s := tr.Stats()
		if len(s) != 2 || s[0].Host != "h3" || s[1].Host != "h4" {
			t.Errorf("Stats = %+v, want the two newest hosts", s)
		}
	})
}

// Cost.Dialect overrides the Tracker's dialect for one request: the same
// headers read as GitHub pace, read as none do not.
func TestTrackerCostDialect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{Dialect: DialectNone})
		start := time.Now()
		resp := func() *http.Response {
			return respAt(start, 200, "X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0",
				"X-RateLimit-Reset", unix(start.Add(3*time.Second)), "X-RateLimit-Resource", "core")
		}
		feed(t, tr, "a", Cost{}, resp())
		feed(t, tr, "b", Cost{Dialect: DialectGitHub}, resp())
		done, _ := tr.Acquire(context.Background(), "a", Cost{})
		done(nil, nil)
		if time.Since(start) != 0 {
			t.Errorf("dialect none paced host a: %v", time.Since(start))
		}
		done, _ = tr.Acquire(context.Background(), "b", Cost{})
		done(nil, nil)
		if time.Since(start) != 3*time.Second {
			t.Errorf("dialect github on host b: granted after %v, want 3s", time.Since(start))
		}
		if _, err := tr.Acquire(context.Background(), "b", Cost{Dialect: "klingon"}); err == nil {
			t.Error("unknown Cost.Dialect accepted")
		}
	})
}

// Until a host has answered once, one request goes and the others wait
// for its response (or at most a second); a request with a near deadline
// does not wait.
func TestTrackerFirstContact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTestTracker(t, TrackerOptions{})
		start := time.Now()
		first, err := tr.Acquire(context.Background(), "api", Cost{})
		if err != nil {
			t.Fatal(err)
		}
		granted := make(chan time.Duration, 1)
		go func() {
			done, err := tr.Acquire(context.Background(), "api", Cost{})
			if err != nil {
				t.Error(err)
				return
			}
			granted <- time.Since(start)
			done(nil, nil)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		hurried, err := tr.Acquire(ctx, "api", Cost{})
		if err != nil || time.Since(start) != 0 {
			t.Fatalf("request with a near deadline: %v after %v, want at once", err, time.Since(start))
		}
		hurried(nil, nil)
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if len(granted) != 0 {
			t.Fatal("second request went before the first was answered")
		}
		first(respAt(start, 200, "X-RateLimit-Limit", "100", "X-RateLimit-Remaining", "99"), nil)
		if got := <-granted; got != 300*time.Millisecond {
			t.Errorf("second request granted at %v, want 300ms (when the first was answered)", got)
		}
	})
}

// The safety margins: a steadily refilling bucket is paced at 98% of its
// rate with one unit left as headroom; a bucket with a limit under 10
// keeps no headroom.
func TestTrackerSafetyMargin(t *testing.T) {
	tests := []struct {
		name      string
		limit     string
		remaining string
		n         int           // requests granted at once
		next      time.Duration // when the one after is granted
	}{
		// IETF t=1 with q=50;w=1: 50/s, paced at 49/s. 5 left: 4 go at once,
		// the 5th waits for one unit: 1/49 s.
		{"headroom", "50", "5", 4, secs(1.0 / 49)},
		// q=5;w=1: 5/s, paced at 4.9/s, no headroom: 4 left go at once,
		// the 5th waits 1/4.9 s.
		{"small limit", "5", "4", 4, secs(1.0 / 4.9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTestTracker(t, TrackerOptions{})
				start := time.Now()
				feed(t, tr, "api", Cost{}, respAt(start, 200, "RateLimit-Policy", `"p";q=`+tt.limit+`;w=1`,
					"RateLimit", `"p";r=`+tt.remaining+`;t=1`))
				for i := range tt.n {
					if got := acquireAt(t, tr, start, Cost{}); got != 0 {
						t.Fatalf("request %d granted at %v, want at once", i, got)
					}
				}
				got := acquireAt(t, tr, start, Cost{})
				if d := got - tt.next; d < -time.Microsecond || d > time.Microsecond {
					t.Fatalf("request %d granted at %v, want %v", tt.n, got, tt.next)
				}
			})
		})
	}
}
