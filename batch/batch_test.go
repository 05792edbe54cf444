package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a Func that records its batches and answers "v<key>",
// leaving out keys below 0 and failing when fail is set.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	fail    error
	block   chan struct{} // when not nil, each call waits for it or ctx
	ctxErr  error         // the last call's ctx.Err() when it returned
}

func (r *recorder) fetch(ctx context.Context, keys []int) (map[int]string, error) {
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(keys))
	block, fail := r.block, r.fail
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			r.mu.Lock()
			r.ctxErr = ctx.Err()
			r.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	m := map[int]string{}
	for _, k := range keys {
		if k >= 0 {
			m[k] = fmt.Sprint("v", k)
		}
	}
	return m, nil
}

func (r *recorder) calls() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func newLoader(t *testing.T, r *recorder, o Options[int, string]) *Loader[int, string] {
	t.Helper()
	l, err := New(r.fetch, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBatchesAndDedupes(t *testing.T) {
	tests := []struct {
		name      string
		keys      []int // one caller per key
		maxBatch  int
		wantCalls int
	}{
		{"one batch", []int{1, 2, 3, 4}, 0, 1},
		{"duplicates fetched once", []int{1, 1, 1, 2, 2}, 0, 1},
		{"split at MaxBatch", seq(250), 100, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &recorder{}
				l := newLoader(t, r, Options[int, string]{Wait: 10 * time.Millisecond, MaxBatch: tc.maxBatch})
				var wg sync.WaitGroup
				for _, k := range tc.keys {
					wg.Go(func() {
						v, err := l.Load(context.Background(), k)
						if err != nil || v != fmt.Sprint("v", k) {
							t.Errorf("Load(%d) = %q, %v", k, v, err)
						}
					})
				}
				wg.Wait()
				calls := r.calls()
				if len(calls) != tc.wantCalls {
					t.Fatalf("%d loads made %d fetches, want %d", len(tc.keys), len(calls), tc.wantCalls)
				}
				seen := map[int]bool{}
				for _, c := range calls {
					if tc.maxBatch > 0 && len(c) > tc.maxBatch {
						t.Fatalf("batch of %d keys, MaxBatch %d", len(c), tc.maxBatch)
					}
					for _, k := range c {
						if seen[k] {
							t.Fatalf("key %d fetched twice", k)
						}
						seen[k] = true
					}
				}
			})
		})
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestFirstCallerCancelsOthersGetResults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{block: make(chan struct{})}
		l := newLoader(t, r, Options[int, string]{Wait: 10 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		firstErr := make(chan error, 1)
		go func() { _, err := l.Load(ctx, 1); firstErr <- err }()
		synctest.Wait()
		var wg sync.WaitGroup
		for _, k := range []int{1, 2, 3} {
			wg.Go(func() {
				if v, err := l.Load(context.Background(), k); err != nil || v != fmt.Sprint("v", k) {
					t.Errorf("Load(%d) = %q, %v after the first caller left", k, v, err)
				}
			})
		}
		synctest.Wait()
		cancel() // the first caller leaves while the batch is being fetched
		if err := <-firstErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("the canceled caller got %v, want context.Canceled", err)
		}
		close(r.block)
		wg.Wait()
		if n := len(r.calls()); n != 1 {
			t.Fatalf("%d fetches, want 1", n)
		}
	})
}

func TestCanceledKeyLeavesBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		l := newLoader(t, r, Options[int, string]{Wait: 10 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		go l.Load(ctx, 7)
		synctest.Wait()
		done := make(chan struct{})
		go func() { l.Load(context.Background(), 8); close(done) }()
		synctest.Wait()
		cancel()
		<-done
		if c := r.calls(); len(c) != 1 || !slices.Equal(c[0], []int{8}) {
			t.Fatalf("fetches %v, want one of [8]: the canceled caller's key is not fetched", c)
		}
	})
}

func TestEveryCallerLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Before the window ends: the batch is never fetched.
		r := &recorder{}
		l := newLoader(t, r, Options[int, string]{Wait: 10 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		if _, err := l.Load(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
		time.Sleep(time.Second)
		if n := len(r.calls()); n != 0 {
			t.Fatalf("a batch nobody waits for was fetched %d times", n)
		}
		// During the fetch: its context is canceled.
		r = &recorder{block: make(chan struct{})}
		l = newLoader(t, r, Options[int, string]{Wait: 10 * time.Millisecond})
		ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel2()
		l.Load(ctx2, 1)
		synctest.Wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		if !errors.Is(r.ctxErr, context.Canceled) {
			t.Fatalf("the fetch's context ended with %v, want Canceled once every caller left", r.ctxErr)
		}
	})
}

func TestErrorsAndMissingKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		l := newLoader(t, r, Options[int, string]{})
		vals, errs := l.LoadMany(context.Background(), []int{1, -1, 2})
		if vals[0] != "v1" || errs[0] != nil || !errors.Is(errs[1], ErrNotFound) || vals[2] != "v2" || errs[2] != nil {
			t.Fatalf("LoadMany = %q %v, want v1, ErrNotFound, v2", vals, errs)
		}
		boom := errors.New("boom")
		r.mu.Lock()
		r.fail = boom
		r.mu.Unlock()
		_, errs = l.LoadMany(context.Background(), []int{3, 4})
		if !errors.Is(errs[0], boom) || !errors.Is(errs[1], boom) {
			t.Fatalf("errs = %v, want boom for every key", errs)
		}
		if n := len(r.calls()); n != 2 {
			t.Fatalf("%d fetches, want 2 (LoadMany batches its keys)", n)
		}
	})
}

// mapCache is a Cache for tests.
type mapCache struct {
	mu sync.Mutex
	m  map[int]string
}

func (c *mapCache) Get(k int) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}
func (c *mapCache) Add(k int, v string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
	return false
}

func TestCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		l := newLoader(t, r, Options[int, string]{Cache: &mapCache{m: map[int]string{}}})
		l.LoadMany(context.Background(), []int{1, 2})
		if v, err := l.Load(context.Background(), 2); v != "v2" || err != nil {
			t.Fatalf("cached Load = %q, %v", v, err)
		}
		if n := len(r.calls()); n != 1 {
			t.Fatalf("%d fetches, want 1: the second Load is cached", n)
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	r := &recorder{}
	tests := []struct {
		name string
		fn   Func[int, string]
		o    Options[int, string]
	}{
		{"nil fn", nil, Options[int, string]{}},
		{"negative Wait", r.fetch, Options[int, string]{Wait: -1}},
		{"negative MaxBatch", r.fetch, Options[int, string]{MaxBatch: -1}},
	}
	for _, tc := range tests {
		if _, err := New(tc.fn, tc.o); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
}
