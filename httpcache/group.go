package httpcache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// DefaultMaxSharedBytes is the body size Group buffers to share when
// Group.MaxBodyBytes is 0.
const DefaultMaxSharedBytes int64 = 4 << 20

// Group coalesces identical concurrent requests: callers of Do with the
// same key while a call is in flight share that one call. Its zero value
// is ready to use; it must not be copied after first use.
//
// It is written for http.Response results, which singleflight cannot share
// safely (one body, many readers), and it needs what singleflight does not
// offer: knowing when every caller has given up, to cancel the upstream call
// and to close a body nobody will read.
type Group struct {
	// MaxBodyBytes bounds the body buffered to share among callers. 0
	// means 4 MiB.
	MaxBodyBytes int64

	mu    sync.Mutex
	calls map[string]*call // guarded by mu
}

// call is one in-flight or finished fn call.
type call struct {
	done   chan struct{} // closed when the fields below are set
	cancel context.CancelFunc

	waiters  int  // guarded by Group.mu: callers still waiting or not yet served
	finished bool // guarded by Group.mu

	// Set before done is closed, read-only afterwards.
	resp   *http.Response // shared response; Body is nil when body is shared
	body   []byte
	bodyOK bool  // the whole body is in body
	rerr   error // error reading the body, after body
	err    error

	// claimed is set by the one party that takes resp with its streaming
	// body (a caller, or the cleanup that closes it).
	claimed atomic.Bool
}

// Do calls fn once for all callers that ask for key while the call is in
// flight, and gives each caller its own *http.Response: a copy with its own
// header and its own reader over the body, buffered once. shared reports
// whether the caller joined a call another caller started.
//
// Cancellation: fn runs in its own goroutine with a context that keeps the
// values of the first caller's ctx but not its cancellation or deadline; it
// is canceled when every caller has returned before it finished. A caller
// whose ctx ends returns ctx.Err() at once, without canceling the call for
// the others. Each caller should therefore bound its own wait (fn's
// transport should have its own timeouts).
//
// Large bodies: when the body is larger than MaxBodyBytes, the first caller
// to be served gets the response with the bytes read and the rest streamed;
// each other caller then runs fn itself with its own ctx (shared false).
// If fn fails, every waiting caller gets its error. If reading the body
// fails, every caller gets a response whose body replays the bytes read
// and then fails with that error.
func (g *Group) Do(ctx context.Context, key string, fn func(ctx context.Context) (*http.Response, error)) (resp *http.Response, shared bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call{}
	}
	c, joined := g.calls[key]
	if !joined {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call{done: make(chan struct{}), cancel: cancel}
		g.calls[key] = c
		go g.run(cctx, key, c, fn)
	}
	c.waiters++
	g.mu.Unlock()

	select {
	case <-c.done:
	case <-ctx.Done():
		g.leave(key, c)
		return nil, joined, ctx.Err()
	}
	if c.err != nil {
		return nil, joined, c.err
	}
	if c.bodyOK || c.rerr != nil {
		return c.copyFor(), joined, nil
	}
	if c.claimed.CompareAndSwap(false, true) {
		return c.resp, joined, nil
	}
	// Someone else has the stream: make our own call.
	resp, err = fn(ctx)
	return resp, false, err
}

// run makes the call and publishes its result.
func (g *Group) run(ctx context.Context, key string, c *call, fn func(context.Context) (*http.Response, error)) {
	defer c.cancel()
	c.resp, c.err = safeCall(ctx, fn)
	if c.err != nil && c.resp != nil && c.resp.Body != nil {
		c.resp.Body.Close() // a RoundTripper returns one or the other
	}
	if c.err == nil && c.resp == nil {
		c.err = fmt.Errorf("httpcache: coalesced call for %q returned neither response nor error", key)
	}
	if c.err == nil {
		c.buffer(g.maxBody())
	}
	g.mu.Lock()
	if g.calls[key] == c {
		delete(g.calls, key)
	}
	c.finished = true
	orphan := c.waiters == 0
	close(c.done)
	g.mu.Unlock()
	if orphan {
		c.discard()
	}
}

// leave records that a caller gave up. The last one to leave cancels an
// unfinished call, or closes a finished call's unclaimed stream.
func (g *Group) leave(key string, c *call) {
	g.mu.Lock()
	c.waiters--
	last := c.waiters == 0
	if last && !c.finished && g.calls[key] == c {
		delete(g.calls, key) // later callers start afresh
	}
	finished := c.finished
	g.mu.Unlock()
	switch {
	case last && !finished:
		c.cancel()
	case last:
		c.discard()
	}
}

// discard closes the stream if no caller took it.
func (c *call) discard() {
	if c.err == nil && !c.bodyOK && c.rerr == nil && c.claimed.CompareAndSwap(false, true) {
		c.resp.Body.Close()
	}
}

func (g *Group) maxBody() int64 {
	if g.MaxBodyBytes > 0 {
		return g.MaxBodyBytes
	}
	return DefaultMaxSharedBytes
}

// buffer reads c.resp's body, up to limit bytes, into c.body. A body that
// is larger stays in c.resp as a stream of the bytes read and the rest.
func (c *call) buffer(limit int64) {
	body := c.resp.Body
	if body == nil || body == http.NoBody {
		c.bodyOK = true
		return
	}
	buf, err := io.ReadAll(io.LimitReader(body, limit+1))
	switch {
	case err != nil:
		body.Close()
		c.body, c.rerr = buf, err
	case int64(len(buf)) > limit:
		c.resp.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(buf), body), c: body}
	default:
		body.Close()
		c.body, c.bodyOK = buf, true
	}
}

// copyFor returns a caller's own copy of the shared response.
func (c *call) copyFor() *http.Response {
	r := new(http.Response)
	*r = *c.resp
	r.Header = c.resp.Header.Clone()
	r.Trailer = c.resp.Trailer.Clone()
	var rd io.Reader = bytes.NewReader(c.body)
	if c.rerr != nil {
		rd = io.MultiReader(rd, errReader{c.rerr})
	} else {
		r.ContentLength = int64(len(c.body))
	}
	r.Body = io.NopCloser(rd)
	return r
}

// safeCall runs fn, turning a panic into an error: fn runs on a goroutine
// no caller can recover from.
func safeCall(ctx context.Context, fn func(context.Context) (*http.Response, error)) (resp *http.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("httpcache: coalesced call panicked: %v", p)
		}
	}()
	return fn(ctx)
}
