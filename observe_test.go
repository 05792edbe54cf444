package sluice

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recordObserver writes down every Observer call it gets, in order.
type recordObserver struct {
	mu    sync.Mutex
	calls []string        // guarded by mu
	waits []time.Duration // rate_wait and route_paused waits, guarded by mu
}

func (o *recordObserver) add(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, s)
}

func (o *recordObserver) StartRequest(req *http.Request, r RouteInfo) *http.Request {
	o.add("start " + r.Name + " " + req.URL.Path)
	return req
}

func (o *recordObserver) EndRequest(_ *http.Request, r RouteInfo, resp *http.Response, err error, d time.Duration) {
	o.add(fmt.Sprintf("end %s %d %v", r.Name, statusOf(resp), err))
}

func (o *recordObserver) StartAttempt(areq *http.Request, a AttemptInfo) *http.Request {
	o.add(fmt.Sprintf("attempt resend=%d", a.Resend))
	return areq
}

func (o *recordObserver) EndAttempt(_ *http.Request, a AttemptInfo, resp *http.Response, err error, _ time.Duration) {
	o.add(fmt.Sprintf("attempt done resend=%d status=%d", a.Resend, statusOf(resp)))
}

func (o *recordObserver) Event(_ context.Context, e Event) {
	o.add(fmt.Sprintf("event %s route=%s reason=%q attempt=%d status=%d", e.Kind, e.Route.Name, e.Reason, e.Attempt, e.Status))
	if e.Kind == "rate_wait" || e.Kind == "route_paused" {
		o.mu.Lock()
		o.waits = append(o.waits, e.Wait)
		o.mu.Unlock()
	}
}

// TestObserverSeesTheRequest scripts a request that waits for its route's
// limit, is throttled with Retry-After, waits out the route's pause and
// succeeds, and checks every Observer call in order.
func TestObserverSeesTheRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answer: func(n int, _ *http.Request) (*http.Response, error) {
			if n == 1 {
				return reply(429, "Retry-After", "2"), nil
			}
			return reply(200), nil
		}}
		cfg := Config{Routes: []Route{{Name: "api", Match: Match{Host: "api.example.com"}, Policy: Policy{
			Limits: []LimitConfig{{Rate: "1/s", Burst: 1}},
			Quota:  &QuotaConfig{Disabled: true},
		}}}}
		tr := newTestTransport(t, cfg, s)
		if _, err := do(tr, "GET", "https://api.example.com/warm", ""); err != nil { // takes the one token
			t.Fatal(err)
		}
		o := &recordObserver{}
		tr.AddObserver(o)
		if _, err := do(tr, "GET", "https://api.example.com/x", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := do(tr, "GET", "https://other.example.com/y", ""); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"start api /x",
			`event rate_wait route=api reason="limit" attempt=0 status=0`,
			"attempt resend=0",
			"attempt done resend=0 status=429",
			`event rate_limited route=api reason="" attempt=0 status=429`,
			`event route_paused route=api reason="" attempt=0 status=0`,
			`event retry_scheduled route=api reason="throttled" attempt=1 status=0`,
			`event long_wait route=api reason="paused by provider" attempt=0 status=0`, // a 2 s pause logs at Info first
			`event rate_wait route=api reason="provider_pause" attempt=0 status=0`,
			"attempt resend=1",
			"attempt done resend=1 status=200",
			"end api 200 <nil>",
			"start default:other.example.com /y",
			"attempt resend=0",
			"attempt done resend=0 status=200",
			"end default:other.example.com 200 <nil>",
		}
		if got := strings.Join(o.calls, "\n"); got != strings.Join(want, "\n") {
			t.Fatalf("observer calls:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
		}
		// The limit wait is the token's refill (1s at 1/s, paced 0.5% under:
		// 1.005s); the pause is 2s, and its wait 2s plus at most 10% of jitter.
		w := o.waits
		if w[0] < 900*time.Millisecond || w[0] > 1011*time.Millisecond || w[1] < 1900*time.Millisecond || w[1] > 2*time.Second ||
			w[2] < 2*time.Second || w[2] > 2200*time.Millisecond {
			t.Fatalf("waits %v, want ~1s (limit), ~2s (pause ordered), 2-2.2s (pause waited)", w)
		}
	})
}

// TestObserverNilIgnored checks that AddObserver(nil) adds nothing.
func TestObserverNilIgnored(t *testing.T) {
	tr := newTestTransport(t, Config{}, &script{answer: sequence()})
	tr.AddObserver(nil)
	if tr.obs.Load() != nil {
		t.Fatal("AddObserver(nil) added an observer")
	}
	if _, err := do(tr, "GET", "https://api.example.com/", ""); err != nil {
		t.Fatal(err)
	}
}
