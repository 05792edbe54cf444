package sluice

import (
	"context"
	"sync"
	"sync/atomic"
)

// waitContext returns a context for the waits of a request (limits, the
// provider's pause and quota, the concurrency cap, retry backoff): ctx,
// also canceled with cause ErrClosed when the Transport is closed. The
// request itself is sent on ctx, so requests on the wire finish after
// Close. stop releases it.
func (t *Transport) waitContext(ctx context.Context) (context.Context, func()) {
	w := &waitCtx{Context: ctx, t: t}
	return w, w.release
}

// waitCtx is a request's context for its waits. Joining it to the
// Transport's closing takes a lock that every request in the process
// shares, so it is joined on the first call of Done, which only a wait
// makes: most requests are admitted at once and never join.
type waitCtx struct {
	context.Context // the request's
	t               *Transport
	once            sync.Once
	joined          atomic.Bool
	wctx            context.Context // set once joined
	cancel          context.CancelCauseFunc
	stop            func() bool
}

func (w *waitCtx) join() {
	w.wctx, w.cancel = context.WithCancelCause(w.Context)
	w.stop = context.AfterFunc(w.t.closing, func() { w.cancel(ErrClosed) })
	w.joined.Store(true)
}

// Done joins the Transport's closing and returns the channel that closes
// when the request's context ends or the Transport is closed.
func (w *waitCtx) Done() <-chan struct{} {
	w.once.Do(w.join)
	if !w.joined.Load() {
		return w.Context.Done() // released: the wait is over
	}
	return w.wctx.Done()
}

// Err is the joined context's error, or the request's before a Done.
func (w *waitCtx) Err() error {
	if w.joined.Load() {
		return w.wctx.Err()
	}
	return w.Context.Err()
}

// Value looks in the joined context once there is one, so that
// context.Cause finds ErrClosed.
func (w *waitCtx) Value(key any) any {
	if w.joined.Load() {
		return w.wctx.Value(key)
	}
	return w.Context.Value(key)
}

func (w *waitCtx) release() {
	w.once.Do(func() {}) // no join from now on
	if w.joined.Load() {
		w.stop()
		w.cancel(nil)
	}
}
