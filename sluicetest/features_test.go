package sluicetest

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestETagsAnswerNotModified(t *testing.T) {
	tests := []struct {
		name          string
		free          bool
		wantRemaining string // after the 304
		wantLast      int    // status of a full GET after that
		wantStats     Stats
	}{
		{"304 is charged", false, "0", 403, Stats{Requests: 3, Accepted: 2, NotModified: 1, Rejected: 1, MaxInFlight: 1}},
		{"304 is free", true, "1", 200, Stats{Requests: 3, Accepted: 2, NotModified: 1, MaxInFlight: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProvider(Options{Limit: FixedWindow(2, time.Hour), Dialect: DialectGitHub,
				ETags: true, FreeNotModified: tt.free, Now: newClock(t0).Now})
			res, _ := mustDo(t, p, call{path: "/repos/o/r"})
			etag := res.Header.Get("Etag")
			if res.StatusCode != 200 || etag == "" {
				t.Fatalf("first GET: %d, ETag %q; want 200 with an ETag", res.StatusCode, etag)
			}
			cond := map[string]string{"If-None-Match": etag}
			res, body := mustDo(t, p, call{path: "/repos/o/r", header: cond})
			if res.StatusCode != http.StatusNotModified || body != "" || res.Header.Get("Etag") != etag {
				t.Fatalf("conditional GET: %d %q ETag %q; want 304, no body, the same ETag", res.StatusCode, body, res.Header.Get("Etag"))
			}
			if got := res.Header.Get("X-Ratelimit-Remaining"); got != tt.wantRemaining {
				t.Errorf("304: remaining %q, want %q", got, tt.wantRemaining)
			}
			p.Touch("/repos/o/r")
			res, _ = mustDo(t, p, call{path: "/repos/o/r", header: cond})
			if res.StatusCode != tt.wantLast {
				t.Errorf("after Touch: %d, want %d", res.StatusCode, tt.wantLast)
			}
			if res.StatusCode == 200 && res.Header.Get("Etag") == etag {
				t.Errorf("after Touch: ETag unchanged")
			}
			if st := p.Stats(); st != tt.wantStats {
				t.Errorf("stats %+v, want %+v", st, tt.wantStats)
			}
		})
	}
}

func TestETagMatch(t *testing.T) {
	tests := []struct {
		list string
		want bool
	}{
		{`W/"abc"`, true}, {`"abc"`, true}, {`"x", W/"abc"`, true}, {`*`, true},
		{``, false}, {`"abd"`, false}, {`W/"ab"`, false},
	}
	for _, tt := range tests {
		if got := etagMatch(tt.list, `W/"abc"`); got != tt.want {
			t.Errorf("etagMatch(%q) = %v, want %v", tt.list, got, tt.want)
		}
	}
}

func TestSecondaryLimitForms(t *testing.T) {
	tests := []struct {
		name       string
		sec        SecondaryLimit
		wantStatus int
		wantHeader map[string]string // "" means absent
	}{
		{"403 with Retry-After", SecondaryLimit{Limit: FixedWindow(1, time.Minute), Penalty: 5 * time.Second, Hint: HintRetryAfter},
			403, map[string]string{"Retry-After": "5", "X-Ratelimit-Remaining": "4999"}},
		{"429 with Retry-After", SecondaryLimit{Limit: FixedWindow(1, time.Minute), Penalty: 5 * time.Second, Status: 429},
			429, map[string]string{"Retry-After": "5"}},
		{"403 with reset", SecondaryLimit{Limit: FixedWindow(1, time.Minute), Penalty: 5 * time.Second, Hint: HintReset},
			403, map[string]string{"Retry-After": "", "X-Ratelimit-Remaining": "0",
				"X-Ratelimit-Reset": "1793613606"}}, // t0 + 5.3 s, rounded up
		{"429 without a hint", SecondaryLimit{Limit: FixedWindow(1, time.Minute), Penalty: 5 * time.Second, Status: 429, Hint: HintNone},
			429, map[string]string{"Retry-After": "", "X-Ratelimit-Remaining": "4999"}},
		{"no penalty: one second", SecondaryLimit{Limit: FixedWindow(1, time.Minute)},
			403, map[string]string{"Retry-After": "60"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0)
			p := NewProvider(Options{Limit: FixedWindow(5000, time.Hour), Dialect: DialectGitHub, Secondary: &tt.sec, Now: clk.Now})
			if res, _ := mustDo(t, p, call{}); res.StatusCode != 200 {
				t.Fatalf("first request: %d", res.StatusCode)
			}
			res, body := mustDo(t, p, call{})
			if res.StatusCode != tt.wantStatus || !strings.Contains(body, "secondary rate limit") {
				t.Fatalf("second request: %d %q; want %d naming the secondary rate limit", res.StatusCode, body, tt.wantStatus)
			}
			for k, want := range tt.wantHeader {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			st := p.Stats()
			if st.Accepted != 1 || st.Rejected != 1 || st.Secondary != 1 {
				t.Errorf("stats %+v: want 1 accepted, 1 rejected by the secondary limit", st)
			}
		})
	}
}

func TestSecondaryPenaltyBlocksEveryone(t *testing.T) {
	clk := newClock(t0)
	p := NewProvider(Options{Secondary: &SecondaryLimit{Limit: TokenBucket(10, 1), Penalty: 3 * time.Second}, Now: clk.Now})
	mustDo(t, p, call{})
	mustDo(t, p, call{}) // triggers
	clk.Advance(2 * time.Second)
	if res, _ := mustDo(t, p, call{}); res.StatusCode != 403 || res.Header.Get("Retry-After") != "1" {
		t.Errorf("during the penalty: %d, Retry-After %q; want 403, 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
	clk.Advance(time.Second)
	if res, _ := mustDo(t, p, call{}); res.StatusCode != 200 {
		t.Errorf("after the penalty: %d, want 200", res.StatusCode)
	}
	if st := p.Stats(); st.Secondary != 2 || st.Accepted != 2 {
		t.Errorf("stats %+v: want 2 accepted, 2 secondary", st)
	}
}

func TestSecondaryConcurrencyTrigger(t *testing.T) {
	tests := []struct {
		name         string
		penalty      time.Duration
		wantAccepted int
	}{
		{"refuses what is over the cap", 0, 3},
		{"a penalty refuses the rest", time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := NewProvider(Options{Secondary: &SecondaryLimit{MaxConcurrent: 3, Penalty: tt.penalty},
					Faults: Faults{Latency: 10 * time.Millisecond}})
				defer p.Close()
				var wg sync.WaitGroup
				for range 5 {
					wg.Go(func() { mustDo(t, p, call{}) })
				}
				wg.Wait()
				if st := p.Stats(); st.Accepted != tt.wantAccepted || st.Secondary != 5-tt.wantAccepted || st.MaxInFlight != 5 {
					t.Errorf("stats %+v: want %d accepted of 5 in flight at once", st, tt.wantAccepted)
				}
			})
		})
	}
}

func TestStripeDialect(t *testing.T) {
	clk := newClock(t0)
	p := NewProvider(Options{Limit: TokenBucket(1, 3), Dialect: DialectStripe, Now: clk.Now,
		Faults: Faults{LostRatio: 1, Seed: 1}})
	post := func(key, body string) (*http.Response, string, error) {
		return do(t, p, "http://api.test", call{method: "POST", path: "/v1/customers", body: body,
			header: map[string]string{"Idempotency-Key": key}})
	}
	if _, _, err := post("k1", "name=a"); err == nil {
		t.Fatal("first POST: got a response, want it lost")
	}
	p.opts.Faults.LostRatio = 0 // the next answers arrive
	res, body, err := post("k1", "name=a")
	if err != nil || res.StatusCode != 200 || res.Header.Get("Idempotent-Replayed") != "true" || !strings.Contains(body, `"n":1`) {
		t.Fatalf("retry: %v %v %q; want the stored answer of request 1, marked replayed", err, res, body)
	}
	res, body, _ = post("k1", "name=b")
	if res.StatusCode != 400 || !strings.Contains(body, "idempotency_error") {
		t.Errorf("key reused with other parameters: %d %q; want 400 idempotency_error", res.StatusCode, body)
	}
	res, body, _ = post("k2", "name=b")
	if res.StatusCode != 429 || !strings.Contains(body, `"code":"rate_limit"`) || res.Header.Get("Retry-After") != "" {
		t.Errorf("over the limit: %d %q; want 429 rate_limit without Retry-After", res.StatusCode, body)
	}
	st := p.Stats()
	if st.Accepted != 3 || st.Replays != 1 || st.Duplicates != 0 || st.LostResponses != 1 || st.Rejected != 1 {
		t.Errorf("stats %+v: want 3 accepted (1 lost, 1 replayed), 0 duplicates, 1 rejected", st)
	}
}

func TestStripeKeyInUse(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	p := NewProvider(Options{Dialect: DialectStripe, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.WriteHeader(201)
	})})
	hdr := map[string]string{"Idempotency-Key": "k"}
	done := make(chan int)
	go func() {
		res, _ := mustDo(t, p, call{method: "POST", body: "x", header: hdr})
		done <- res.StatusCode
	}()
	<-started
	if res, body := mustDo(t, p, call{method: "POST", body: "x", header: hdr}); res.StatusCode != 409 || !strings.Contains(body, "idempotency_key_in_use") {
		t.Errorf("while the first runs: %d %q; want 409 idempotency_key_in_use", res.StatusCode, body)
	}
	close(release)
	if got := <-done; got != 201 {
		t.Errorf("first: %d, want 201", got)
	}
	if res, _ := mustDo(t, p, call{method: "POST", body: "x", header: hdr}); res.StatusCode != 201 || res.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("after: %d, want the stored 201 replayed", res.StatusCode)
	}
}
