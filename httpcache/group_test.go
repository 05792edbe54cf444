package httpcache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// upstream is a fn for Group.Do that counts calls and blocks until
// released.
type upstream struct {
	calls   atomic.Int32
	release chan struct{}
	body    string
	err     error
	sawCtx  chan context.Context // receives fn's ctx, if not nil
}

func newUpstream(body string) *upstream {
	return &upstream{release: make(chan struct{}), body: body}
}

func (u *upstream) fn(ctx context.Context) (*http.Response, error) {
	u.calls.Add(1)
	if u.sawCtx != nil {
		u.sawCtx <- ctx
	}
	select {
	case <-u.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if u.err != nil {
		return nil, u.err
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"X-N": {"1"}}, Body: io.NopCloser(strings.NewReader(u.body))}, nil
}

type result struct {
	body   string
	shared bool
	err    error
	resp   *http.Response
}

// doAll starts n callers of g.Do with ctxs[i] (or Background) and returns
// a func that waits for them.
func doAll(g *Group, n int, ctxs []context.Context, fn func(context.Context) (*http.Response, error)) func() []result {
	out := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		ctx := context.Background()
		if i < len(ctxs) {
			ctx = ctxs[i]
		}
		wg.Go(func() {
			resp, shared, err := g.Do(ctx, "k", fn)
			out[i] = result{shared: shared, err: err, resp: resp}
			if resp != nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				out[i].body = string(b)
			}
		})
		synctest.Wait() // the first caller leads
	}
	return func() []result { wg.Wait(); return out }
}

func TestGroupCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		up := newUpstream(strings.Repeat("body ", 100))
		wait := doAll(&g, 8, nil, up.fn)
		close(up.release)
		res := wait()
		if n := up.calls.Load(); n != 1 {
			t.Fatalf("fn called %d times, want 1", n)
		}
		headers := map[*http.Response]bool{}
		for i, r := range res {
			if r.err != nil || r.body != up.body {
				t.Fatalf("caller %d: body %d bytes, err %v", i, len(r.body), r.err)
			}
			if r.shared != (i > 0) {
				t.Errorf("caller %d: shared = %v", i, r.shared)
			}
			r.resp.Header.Set("X-N", "mine") // own header: no race, no effect on others
			headers[r.resp] = true
		}
		if len(headers) != 8 {
			t.Errorf("%d distinct responses, want 8", len(headers))
		}
		// A later call starts afresh.
		if _, shared, _ := g.Do(context.Background(), "k", up.fn); shared || up.calls.Load() != 2 {
			t.Errorf("call after completion: shared %v, calls %d", shared, up.calls.Load())
		}
	})
}

func TestGroupErrorShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		up := newUpstream("")
		up.err = errors.New("connection refused")
		wait := doAll(&g, 4, nil, up.fn)
		close(up.release)
		for i, r := range wait() {
			if !errors.Is(r.err, up.err) || r.resp != nil {
				t.Errorf("caller %d: %v, %v; want the shared error", i, r.resp, r.err)
			}
		}
		if up.calls.Load() != 1 {
			t.Errorf("fn called %d times", up.calls.Load())
		}
	})
}

func TestGroupFollowerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		up := newUpstream("ok")
		ctx, cancel := context.WithCancel(context.Background())
		wait := doAll(&g, 3, []context.Context{context.Background(), ctx}, up.fn)
		cancel()
		synctest.Wait()
		// The canceled follower has returned although fn is still blocked.
		close(up.release)
		res := wait()
		if !errors.Is(res[1].err, context.Canceled) || res[1].resp != nil {
			t.Errorf("canceled follower: %v, %v", res[1].resp, res[1].err)
		}
		if res[0].body != "ok" || res[2].body != "ok" {
			t.Errorf("others: %q %v, %q %v", res[0].body, res[0].err, res[2].body, res[2].err)
		}
	})
}

func TestGroupLeaderCancelKeepsCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		up := newUpstream("ok")
		up.sawCtx = make(chan context.Context, 1)
		type key struct{}
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "leader"))
		wait := doAll(&g, 2, []context.Context{ctx}, up.fn)
		fctx := <-up.sawCtx
		cancel()
		synctest.Wait()
		if fctx.Err() != nil {
			t.Fatal("the call was canceled with its first caller while another waits")
		}
		if fctx.Value(key{}) != "leader" {
			t.Error("the call lost the first caller's context values")
		}
		close(up.release)
		res := wait()
		if !errors.Is(res[0].err, context.Canceled) || res[1].body != "ok" || res[1].err != nil {
			t.Errorf("results: %+v", res)
		}
	})
}

func TestGroupAllLeaveCancelsCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		up := newUpstream("ok")
		up.sawCtx = make(chan context.Context, 1)
		ctx1, cancel1 := context.WithCancel(context.Background())
		ctx2, cancel2 := context.WithCancel(context.Background())
		wait := doAll(&g, 2, []context.Context{ctx1, ctx2}, up.fn)
		fctx := <-up.sawCtx
		cancel1()
		synctest.Wait()
		if fctx.Err() != nil {
			t.Fatal("canceled while a caller waits")
		}
		cancel2()
		synctest.Wait()
		if fctx.Err() == nil {
			t.Fatal("not canceled after every caller left")
		}
		for i, r := range wait() {
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("caller %d: %v", i, r.err)
			}
		}
		// A new caller starts a new call instead of joining the canceled one.
		up.sawCtx = nil
		close(up.release)
		resp, shared, err := g.Do(context.Background(), "k", up.fn)
		if err != nil || shared || resp == nil {
			t.Fatalf("fresh call: %v %v %v", resp, shared, err)
		}
		resp.Body.Close()
	})
}

func TestGroupLargeBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := Group{MaxBodyBytes: 10}
		up := newUpstream(strings.Repeat("z", 100))
		wait := doAll(&g, 4, nil, up.fn)
		close(up.release)
		res := wait()
		for i, r := range res {
			if r.err != nil || r.body != up.body {
				t.Fatalf("caller %d: %d bytes, %v", i, len(r.body), r.err)
			}
		}
		// One stream for the first served caller, one call for each other.
		if n := up.calls.Load(); n != 4 {
			t.Errorf("fn called %d times, want 4", n)
		}
	})
}

// closeCounter is a body that counts Close calls.
type closeCounter struct {
	io.Reader
	n *atomic.Int32
}

func (c closeCounter) Close() error { c.n.Add(1); return nil }

func TestGroupOrphanStreamClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := Group{MaxBodyBytes: 1}
		var closed atomic.Int32
		release := make(chan struct{})
		fn := func(ctx context.Context) (*http.Response, error) {
			<-release // ignores ctx, as a slow upstream might
			return &http.Response{StatusCode: 200, Body: closeCounter{strings.NewReader("big body"), &closed}}, nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		wait := doAll(&g, 1, []context.Context{ctx}, fn)
		cancel()
		wait()
		close(release)
		synctest.Wait()
		if closed.Load() != 1 {
			t.Fatalf("unclaimed body closed %d times, want 1", closed.Load())
		}
	})
}

func TestGroupBodyReadError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		boom := errors.New("reset")
		release := make(chan struct{})
		fn := func(context.Context) (*http.Response, error) {
			<-release
			return &http.Response{StatusCode: 200, Body: io.NopCloser(io.MultiReader(strings.NewReader("part"), errReader{boom}))}, nil
		}
		out := make(chan error, 2)
		for range 2 {
			go func() {
				resp, _, err := g.Do(context.Background(), "k", fn)
				if err != nil {
					out <- err
					return
				}
				b, rerr := io.ReadAll(resp.Body)
				if string(b) != "part" {
					rerr = errors.New("lost bytes: " + string(b))
				}
				out <- rerr
			}()
			synctest.Wait()
		}
		close(release)
		for range 2 {
			if err := <-out; !errors.Is(err, boom) {
				t.Errorf("read error = %v, want %v after the bytes read", err, boom)
			}
		}
	})
}

func TestGroupPanicAndNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		_, _, err := g.Do(context.Background(), "p", func(context.Context) (*http.Response, error) { panic("bad") })
		if err == nil || !strings.Contains(err.Error(), "panicked: bad") {
			t.Errorf("panic: %v", err)
		}
		_, _, err = g.Do(context.Background(), "n", func(context.Context) (*http.Response, error) { return nil, nil })
		if err == nil {
			t.Error("nil, nil gave no error")
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := g.Do(ctx, "c", nil); !errors.Is(err, context.Canceled) {
			t.Errorf("done ctx: %v", err)
		}
	})
}
