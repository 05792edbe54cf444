package batch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/batch"
)

// A batch is one request with a cost: 1,000 lookups from 50 goroutines
// (so batches of up to 50 ids) through a route limited to 2 requests/s and
// 100 ids/s (weighted, the batch's size as its cost) send about 20
// requests and take about 10 s of fake time: the 100 ids/s limit governs,
// where one request per id would have needed 500 s at 2/s.
func TestBatchMeetsRouteLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sent, ids atomic.Int64
		api := roundTripper(func(req *http.Request) (*http.Response, error) {
			sent.Add(1)
			q := strings.Split(req.URL.Query().Get("ids"), ",")
			ids.Add(int64(len(q)))
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(strings.Join(q, ",")))}, nil
		})
		tr, err := sluice.NewTransport(sluice.Config{Routes: []sluice.Route{{Name: "users", Match: sluice.Match{Host: "api.example.test"},
			Policy: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "2/s", Burst: 1}, {Rate: "100/s", Burst: 100, Weighted: true}}}}}}, api)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		c := &http.Client{Transport: tr}
		l, err := batch.New(func(ctx context.Context, keys []int) (map[int]string, error) {
			s := make([]string, len(keys))
			for i, k := range keys {
				s[i] = strconv.Itoa(k)
			}
			req, _ := http.NewRequestWithContext(sluice.WithCost(ctx, int64(len(keys))), "GET", "https://api.example.test/users?ids="+strings.Join(s, ","), nil)
			resp, err := c.Do(req)
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			m := map[int]string{}
			for _, k := range keys {
				m[k] = fmt.Sprint("u", k)
			}
			return m, nil
		}, batch.Options[int, string]{Wait: time.Millisecond, MaxBatch: 100})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var wg sync.WaitGroup
		for g := range 50 {
			wg.Go(func() {
				for i := g; i < 1000; i += 50 {
					if v, err := l.Load(context.Background(), i); err != nil || v != fmt.Sprint("u", i) {
						t.Errorf("Load(%d) = %q, %v", i, v, err)
					}
				}
			})
		}
		wg.Wait()
		el := time.Since(start)
		if sent.Load() > 22 || ids.Load() != 1000 {
			t.Fatalf("sent %d requests for %d ids, want about 20 for 1000", sent.Load(), ids.Load())
		}
		if el < 8*time.Second || el > 12*time.Second {
			t.Fatalf("took %v of fake time, want about 10 s (100 ids/s)", el)
		}
		rs, _ := tr.Stats().Route("users")
		t.Logf("%d requests, %d ids, %v, waited %v", sent.Load(), ids.Load(), el, rs.Waited)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
