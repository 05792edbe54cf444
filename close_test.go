package sluice

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestCloseEndsQueuedRequests is the regression test of defect 6 (issue
// 11): 100 GETs waiting on a 5/s limiter kept being sent after Close, and
// most stayed blocked; none got ErrClosed. Now every waiter returns
// ErrClosed at once, nothing is sent after Close, and a request already on
// the wire finishes. It fails before the fix.
func TestCloseEndsQueuedRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sent, sentAfterClose atomic.Int64
		var closed atomic.Bool
		slow := make(chan struct{})
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent.Add(1)
			if closed.Load() {
				sentAfterClose.Add(1)
			}
			if r.URL.Path == "/slow" {
				<-slow
			}
			return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
		})
		tr, err := NewTransport(Config{Routes: []Route{
			{Name: "slow", Match: Match{Path: "/slow"}, Policy: Policy{Limits: []LimitConfig{}}},
			{Name: "api", Policy: Policy{Limits: []LimitConfig{{Rate: "5/s", Burst: 1}}, Quota: &QuotaConfig{Disabled: true}}},
		}}, base)
		if err != nil {
			t.Fatal(err)
		}
		var onWire error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "https://api.example.com/slow", nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			onWire = err
		}()
		errs := make([]error, 100)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", "https://api.example.com/x", nil)
				resp, err := tr.RoundTrip(req)
				if err == nil {
					resp.Body.Close()
				}
				errs[i] = err
			}()
		}
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		before := sent.Load()
		closed.Store(true)
		start := time.Now()
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		close(slow)
		wg.Wait()
		if waited := time.Since(start); waited > 0 {
			t.Errorf("queued requests took %v to end after Close", waited)
		}
		if n := sentAfterClose.Load(); n != 0 {
			t.Errorf("%d requests sent after Close", n)
		}
		var ok, closedN int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrClosed):
				closedN++
			default:
				t.Errorf("queued request: %v, want ErrClosed", err)
			}
		}
		if int64(ok)+1 != before || closedN != 100-ok {
			t.Errorf("%d sent before Close (1 slow), %d succeeded, %d ErrClosed", before, ok, closedN)
		}
		if onWire != nil {
			t.Errorf("the request on the wire at Close failed: %v", onWire)
		}
	})
}
