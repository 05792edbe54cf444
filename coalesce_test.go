package sluice

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// gatedUpstream answers every request, after release is closed, with a body
// naming what the request asked for; calls counts the requests.
type gatedUpstream struct {
	calls   atomic.Int64
	release chan struct{}
}

func (g *gatedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	g.calls.Add(1)
	select {
	case <-g.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	body := r.Header.Get("Range") + "|" + r.Header.Get("Accept") + "|" + r.Header.Get("X-Session-Id")
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// TestCoalescingKeepsVariantsApart is the regression test of defect 2
// (issue 11): two concurrent GETs differing only in Range, in Accept on a
// coalesce-only route, or in a route-declared credential header made one
// upstream call and both got the first one's body. It fails before the fix
// (1 call instead of 2, one caller gets the other's body).
func TestCoalescingKeepsVariantsApart(t *testing.T) {
	on := true
	tests := []struct {
		name       string
		pol        Policy
		hdrA, hdrB [2]string
		wantCalls  int64
	}{
		{"range", Policy{Coalesce: &on}, [2]string{"Range", "bytes=0-9"}, [2]string{"Range", "bytes=10-19"}, 2},
		{"same range", Policy{Coalesce: &on}, [2]string{"Range", "bytes=0-9"}, [2]string{"Range", "bytes=0-9"}, 2},
		{"accept", Policy{Coalesce: &on}, [2]string{"Accept", "application/json"}, [2]string{"Accept", "text/csv"}, 2},
		{"accept on caching route", Policy{Cache: &CacheConfig{TTL: time.Minute}}, [2]string{"Accept", "application/json"}, [2]string{"Accept", "text/csv"}, 2},
		{"credential header", Policy{Coalesce: &on, CredentialHeaders: []string{"X-Session-Id"}}, [2]string{"X-Session-Id", "alice"}, [2]string{"X-Session-Id", "bob"}, 2},
		{"identical", Policy{Coalesce: &on}, [2]string{"Accept", "application/json"}, [2]string{"Accept", "application/json"}, 1},
		{"trace ids differ", Policy{Coalesce: &on}, [2]string{"Traceparent", "00-a-b-01"}, [2]string{"Traceparent", "00-c-d-01"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := &gatedUpstream{release: make(chan struct{})}
				tt.pol.Circuit = &CircuitConfig{Disabled: true}
				tt.pol.Quota = &QuotaConfig{Disabled: true}
				tr := newTestTransport(t, Config{Routes: []Route{{Name: "api", Policy: tt.pol}}}, up)
				bodies := make([]string, 2)
				var wg sync.WaitGroup
				for i, h := range [][2]string{tt.hdrA, tt.hdrB} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest("GET", "https://api.example.com/file", nil)
						req.Header.Set(h[0], h[1])
						resp, err := tr.RoundTrip(req)
						if err != nil {
							t.Error(err)
							return
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						bodies[i] = string(b)
					}()
					synctest.Wait()
				}
				close(up.release)
				wg.Wait()
				if got := up.calls.Load(); got != tt.wantCalls {
					t.Errorf("%d upstream calls, want %d", got, tt.wantCalls)
				}
				for i, h := range [][2]string{tt.hdrA, tt.hdrB} {
					if h[0] != "Traceparent" && !strings.Contains(bodies[i], h[1]) {
						t.Errorf("caller %d (%s: %s) got body %q", i, h[0], h[1], bodies[i])
					}
				}
			})
		})
	}
}

// TestCoalescedCallerKeepsItsOwnDeadline is the regression test of defect
// 7 (issue 11): a caller with no deadline that joined one with a 100ms
// deadline failed with "context deadline exceeded" although its own context
// was fine. It fails before the fix.
func TestCoalescedCallerKeepsItsOwnDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &gatedUpstream{release: make(chan struct{})}
		tr := newTestTransport(t, Config{Routes: []Route{{Name: "api", Policy: Policy{
			Cache: &CacheConfig{TTL: time.Minute}, Circuit: &CircuitConfig{Disabled: true},
			Retry: &RetryConfig{MaxAttempts: 1},
		}}}}, up)
		var wg sync.WaitGroup
		var leaderErr, joinerErr error
		var joinerBody string
		wg.Add(2)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/x", nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			leaderErr = err
		}()
		synctest.Wait()
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "https://api.example.com/x", nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				joinerBody = string(b)
			}
			joinerErr = err
		}()
		synctest.Wait()
		time.Sleep(300 * time.Millisecond) // past the leader's deadline
		close(up.release)
		wg.Wait()
		if leaderErr == nil {
			t.Error("the leader's 100ms deadline did not end its call")
		}
		if joinerErr != nil {
			t.Fatalf("the joiner with no deadline failed: %v", joinerErr)
		}
		if joinerBody != "||" {
			t.Fatalf("joiner body %q", joinerBody)
		}
	})
}
