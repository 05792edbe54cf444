package proxy

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice"
)

// pipeNet is an in-memory network for tests under testing/synctest: its
// DialContext hands the server end of a net.Pipe to its Accept, so an
// http.Server serving on it is the proxy's upstream without a socket (a
// goroutine blocked on a pipe is durably blocked; on a socket it is not).
type pipeNet struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeNet() *pipeNet { return &pipeNet{conns: make(chan net.Conn), done: make(chan struct{})} }

func (p *pipeNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case p.conns <- s:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeNet) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

// TestConsumerWaitHistogram runs the proxy in fake time in front of a
// 5/s burst-1 route: alice sends five requests at once, which the limit
// spaces 200 ms apart (waits 0, 0.2, 0.4, 0.6 and 0.8 s, and half a
// percent more), and a sixth that
// may wait only 100 ms (refused at once: it is observed with no wait);
// bob's first request then waits for the next slot (0.2 s) and his second,
// 5 s later, not at all. Each consumer's sluice_proxy_consumer_wait_seconds
// has those waits in its buckets, its sum and its count.
func TestConsumerWaitHistogram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
		go srv.Serve(pn)
		defer func() {
			srv.Close()
			pn.Close()
		}()
		h, err := New(Config{
			Upstreams: []Upstream{{Name: "prov", Prefix: "/prov", Target: "http://provider.test", Allow: []string{"loopback"}}},
			Consumers: []Consumer{{Name: "alice", TokenEnv: "ALICE"}, {Name: "bob", TokenEnv: "BOB"}},
			Getenv:    func(k string) string { return testEnv[k] },
			Resolver:  names{"provider.test": "127.0.0.1"},
			Dialer:    pn,
			Pipeline: sluice.Config{Routes: []sluice.Route{{Name: "prov", Match: sluice.Match{Host: "provider.test"},
				Policy: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "5/s", Burst: 1}}}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		get := func(tok, maxWait string) int {
			req := httptest.NewRequest(http.MethodGet, "/prov/x", nil) // origin-form: base-URL mode
			req.Header.Set("Authorization", "Bearer "+tok)
			if maxWait != "" {
				req.Header.Set("Sluice-Max-Wait", maxWait)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w.Code
		}

		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if code := get(aliceToken, ""); code != 200 {
					t.Errorf("alice: status %d", code)
				}
			})
			synctest.Wait() // one at a time into the limit's queue
		}
		if code := get(aliceToken, "100ms"); code != http.StatusTooManyRequests {
			t.Errorf("alice with 100ms to wait behind 0.8 s of queue: status %d, want 429", code)
		}
		wg.Wait() // t = 0.8 s
		if code := get(bobToken, ""); code != 200 {
			t.Errorf("bob: status %d", code)
		}
		time.Sleep(5 * time.Second) // fake time: the limit is full again
		if code := get(bobToken, ""); code != 200 {
			t.Errorf("bob, later: status %d", code)
		}

		w := httptest.NewRecorder()
		h.Admin().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		fams := parseExposition(t, w.Body.String())
		f := fams["sluice_proxy_consumer_wait_seconds"]
		if f == nil || f.typ != "histogram" {
			t.Fatalf("no histogram sluice_proxy_consumer_wait_seconds in:\n%s", w.Body.String())
		}
		// Cumulative counts by le, then the count and the sum. The limit
		// paces at 99.5% of its rate (margin.go): one step is 200 ms / 0.995.
		step := 0.2 * 200 / 199
		want := []struct {
			consumer string
			le       []float64 // 0.001 0.01 0.1 0.5 1 5 30 +Inf
			sum      float64
		}{
			{"alice", []float64{2, 2, 2, 4, 6, 6, 6, 6}, 10 * step},
			{"bob", []float64{1, 1, 1, 2, 2, 2, 2, 2}, step},
		}
		les := []string{"0.001", "0.01", "0.1", "0.5", "1", "5", "30", "+Inf"}
		for _, tt := range want {
			for i, le := range les {
				key := `_bucket{consumer="` + tt.consumer + `",le="` + le + `"}`
				if got, ok := f.samples[key]; !ok || got != tt.le[i] {
					t.Errorf("%s: %v (present %v), want %v", key, got, ok, tt.le[i])
				}
			}
			if got := f.samples[`_count{consumer="`+tt.consumer+`"}`]; got != tt.le[len(tt.le)-1] {
				t.Errorf("%s: _count %v, want %v", tt.consumer, got, tt.le[len(tt.le)-1])
			}
			if got := f.samples[`_sum{consumer="`+tt.consumer+`"}`]; math.Abs(got-tt.sum) > 1e-6 {
				t.Errorf("%s: _sum %v, want %v", tt.consumer, got, tt.sum)
			}
		}
	})
}

// TestWaitBuckets: a wait lands in the first bucket whose bound holds it
// (le is "less than or equal").
func TestWaitBuckets(t *testing.T) {
	tests := []struct {
		wait time.Duration
		idx  int
	}{
		{0, 0}, {time.Millisecond, 0}, {time.Millisecond + 1, 1}, {100 * time.Millisecond, 2},
		{499 * time.Millisecond, 3}, {time.Second, 4}, {30 * time.Second, 6}, {31 * time.Second, 7}, {time.Hour, 7},
	}
	m := newMeter(Config{Consumers: []Consumer{{Name: "alice"}}})
	for _, tt := range tests {
		c := m.consumers["alice"]
		before := c.waits[tt.idx].Load()
		st := &reqState{}
		st.waitedNs.Store(int64(tt.wait))
		m.waited("alice", st)
		if c.waits[tt.idx].Load() != before+1 {
			t.Errorf("wait %v: not counted in bucket %d (le %s)", tt.wait, tt.idx, leOf(tt.idx))
		}
	}
	m.waited("nobody", &reqState{}) // an unknown consumer is not counted, and does not panic
}

func leOf(i int) string {
	if i < len(waitBuckets) {
		return waitBuckets[i].le
	}
	return "+Inf"
}
