package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/batch"
)

// batchAPI is an in-memory API with a batch endpoint, GET /users?ids=1,2,3,
// answering after a fixed latency.
type batchAPI struct {
	latency time.Duration
	sent    atomic.Int64
}

func (a *batchAPI) RoundTrip(req *http.Request) (*http.Response, error) {
	a.sent.Add(1)
	tm := time.NewTimer(a.latency)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	m := map[string]string{}
	for id := range strings.SplitSeq(req.URL.Query().Get("ids"), ",") {
		m[id] = "user-" + id
	}
	b, _ := json.Marshal(m)
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: nopBody(b), Request: req}, nil
}

// fetchUsers is one batch call through c.
func fetchUsers(ctx context.Context, c *http.Client, ids []int) (map[int]string, error) {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.test/users?ids="+strings.Join(s, ","), nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	out := make(map[int]string, len(m))
	for k, v := range m {
		id, _ := strconv.Atoi(k)
		out[id] = v
	}
	return out, nil
}

// TestBatchLookups sends 1,000 single-id lookups from 50 goroutines through
// a sluice Transport, one request per id and through sluice's batch.Loader
// and dataloader v7 with the same window and batch size, in one run, and
// prints requests sent and the p50/p99 latency a lookup adds to one
// request's. go test -run TestBatchLookups -v ./ (in bench/)
func TestBatchLookups(t *testing.T) {
	const (
		lookups, goroutines = 1000, 50
		wait, maxBatch      = 2 * time.Millisecond, 100
		latency             = 5 * time.Millisecond
	)
	type loader func(ctx context.Context, id int) (string, error)
	run := func(name string, mk func(c *http.Client) loader) {
		api := &batchAPI{latency: latency}
		tr, err := sluice.NewTransport(sluice.Config{}, api)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		load := mk(&http.Client{Transport: tr})
		lat := make([]time.Duration, lookups)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= lookups {
						return
					}
					start := time.Now()
					v, err := load(context.Background(), i%700) // some ids asked twice
					lat[i] = time.Since(start)
					if err != nil || v != fmt.Sprint("user-", i%700) {
						t.Errorf("%s: lookup %d = %q, %v", name, i, v, err)
					}
				}
			})
		}
		wg.Wait()
		slices.Sort(lat)
		added := func(p float64) time.Duration {
			return max(lat[int(p*float64(lookups-1))]-latency, 0).Round(100 * time.Microsecond)
		}
		t.Logf("%-22s requests %5d   added latency p50 %8v p99 %8v", name, api.sent.Load(), added(0.50), added(0.99))
	}
	run("one request per id", func(c *http.Client) loader {
		return func(ctx context.Context, id int) (string, error) {
			m, err := fetchUsers(ctx, c, []int{id})
			return m[id], err
		}
	})
	run("sluice batch.Loader", func(c *http.Client) loader {
		l, err := batch.New(func(ctx context.Context, ids []int) (map[int]string, error) { return fetchUsers(ctx, c, ids) },
			batch.Options[int, string]{Wait: wait, MaxBatch: maxBatch})
		if err != nil {
			t.Fatal(err)
		}
		return l.Load
	})
	run("dataloader v7", func(c *http.Client) loader {
		dl := dataloader.NewBatchedLoader(func(ctx context.Context, ids []int) []*dataloader.Result[string] {
			m, err := fetchUsers(ctx, c, ids)
			out := make([]*dataloader.Result[string], len(ids))
			for i, id := range ids {
				out[i] = &dataloader.Result[string]{Data: m[id], Error: err}
			}
			return out
		}, dataloader.WithWait[int, string](wait), dataloader.WithBatchCapacity[int, string](maxBatch),
			dataloader.WithCache[int, string](&dataloader.NoCache[int, string]{}))
		return func(ctx context.Context, id int) (string, error) { return dl.Load(ctx, id)() }
	})
}

func nopBody(b []byte) *readCloser { return &readCloser{Reader: strings.NewReader(string(b))} }

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// TestBatchFirstCallerCancels: the first caller of a batch cancels while it
// is in flight; the other 9 callers should still get their values. Run
// for sluice's Loader and dataloader v7 side by side.
func TestBatchFirstCallerCancels(t *testing.T) {
	fails := func(load func(ctx context.Context, id int) (string, error)) int {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { load(ctx, 0) })
		time.Sleep(time.Millisecond) // the first caller starts the batch
		var failed atomic.Int64
		for id := 1; id < 10; id++ {
			wg.Go(func() {
				if v, err := load(context.Background(), id); err != nil || v != fmt.Sprint("user-", id) {
					failed.Add(1)
				}
			})
		}
		time.Sleep(10 * time.Millisecond) // the batch is being fetched
		cancel()
		wg.Wait()
		return int(failed.Load())
	}
	newClient := func() (*http.Client, func()) {
		tr, err := sluice.NewTransport(sluice.Config{}, &batchAPI{latency: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Transport: tr}, func() { tr.Close() }
	}
	c1, close1 := newClient()
	defer close1()
	l, _ := batch.New(func(ctx context.Context, ids []int) (map[int]string, error) { return fetchUsers(ctx, c1, ids) },
		batch.Options[int, string]{Wait: 5 * time.Millisecond})
	c2, close2 := newClient()
	defer close2()
	dl := dataloader.NewBatchedLoader(func(ctx context.Context, ids []int) []*dataloader.Result[string] {
		m, err := fetchUsers(ctx, c2, ids)
		out := make([]*dataloader.Result[string], len(ids))
		for i, id := range ids {
			out[i] = &dataloader.Result[string]{Data: m[id], Error: err}
		}
		return out
	}, dataloader.WithWait[int, string](5*time.Millisecond), dataloader.WithCache[int, string](&dataloader.NoCache[int, string]{}))
	sl, dlf := fails(l.Load), fails(func(ctx context.Context, id int) (string, error) { return dl.Load(ctx, id)() })
	t.Logf("others failed after the first caller canceled: sluice batch.Loader %d/9, dataloader v7 %d/9", sl, dlf)
	if sl != 0 {
		t.Errorf("sluice batch.Loader: %d of 9 other callers failed when the first canceled", sl)
	}
}
