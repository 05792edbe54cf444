package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults applied by New to zero fields of Options.
const (
	DefaultWait     = time.Millisecond
	DefaultMaxBatch = 100
)

// ErrNotFound is the error of a key the fetch function left out of its
// result.
var ErrNotFound = errors.New("batch: key not in the batch's result")

// Func fetches the values of keys in one call, typically one HTTP request
// through a sluice Transport (a route's limit then counts the batch as one
// request; pass the batch size as its cost with sluice.WithCost when the
// API charges per id). keys are distinct and never empty. A key missing
// from the result gets ErrNotFound; a non-nil error is every key's error.
//
// ctx keeps the values of the first caller's context (a priority, a
// tracing span) and is canceled when every caller waiting on the batch has
// left; it has no deadline of its own, so fn's transport must bound its
// own calls.
type Func[K comparable, V any] func(ctx context.Context, keys []K) (map[K]V, error)

// Cache is an optional per-key cache of loaded values. Its methods match
// hashicorp/golang-lru/v2's *lru.Cache, which can be passed as is. It must
// be safe for concurrent use.
type Cache[K comparable, V any] interface {
	Get(key K) (value V, ok bool)
	Add(key K, value V) (evicted bool)
}

// Options configures a Loader.
type Options[K comparable, V any] struct {
	// Wait is how long a batch gathers keys after its first one before it
	// is fetched. 0 means 1ms; negative is an error.
	Wait time.Duration
	// MaxBatch is the most distinct keys in one batch; a batch that
	// reaches it is fetched at once. 0 means 100; negative is an error.
	MaxBatch int
	// Cache, when not nil, answers keys loaded before without a fetch and
	// keeps every value fetched. Errors are not cached.
	Cache Cache[K, V]
}

// Loader gathers the keys asked for by concurrent callers into batches and
// fetches each batch with one call of its Func. It is safe for concurrent
// use.
type Loader[K comparable, V any] struct {
	fetch    Func[K, V]
	wait     time.Duration
	maxBatch int
	cache    Cache[K, V]

	mu  sync.Mutex
	cur *pending[K, V] // guarded by mu: the batch gathering keys, or nil
}

// pending is one batch.
type pending[K comparable, V any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer

	// guarded by Loader.mu
	keys       []K
	waiting    map[K]int // callers still waiting, per key
	callers    int       // callers still waiting, in all
	dispatched bool

	done chan struct{} // closed when res and err are set
	res  map[K]V
	err  error
}

// New returns a Loader that fetches with fn. It reports an error naming a
// nil fn or a negative option.
func New[K comparable, V any](fn Func[K, V], o Options[K, V]) (*Loader[K, V], error) {
	switch {
	case fn == nil:
		return nil, errors.New("batch: New needs a fetch function, got nil")
	case o.Wait < 0:
		return nil, fmt.Errorf("batch: Wait %v must not be negative", o.Wait)
	case o.MaxBatch < 0:
		return nil, fmt.Errorf("batch: MaxBatch %d must not be negative", o.MaxBatch)
	}
	l := &Loader[K, V]{fetch: fn, wait: o.Wait, maxBatch: o.MaxBatch, cache: o.Cache}
	if l.wait == 0 {
		l.wait = DefaultWait
	}
	if l.maxBatch == 0 {
		l.maxBatch = DefaultMaxBatch
	}
	return l, nil
}

// Load returns the value of key, fetched in a batch with the keys other
// callers ask for within the batch's window. ctx governs only this
// caller's wait: when it ends, Load returns ctx.Err() and the batch goes on
// for the callers still waiting (without key, if no one else asked for it,
// and not at all if no caller is left).
func (l *Loader[K, V]) Load(ctx context.Context, key K) (V, error) {
	if v, ok := l.cached(key); ok {
		return v, nil
	}
	if err := ctx.Err(); err != nil {
		var zero V
		return zero, err
	}
	p := l.join(ctx, key)
	return l.await(ctx, p, key)
}

// LoadMany returns the values of keys, in order, and each key's error (nil
// when it loaded). The keys join batches like Load's; ctx governs only
// this caller's wait.
func (l *Loader[K, V]) LoadMany(ctx context.Context, keys []K) ([]V, []error) {
	vals := make([]V, len(keys))
	errs := make([]error, len(keys))
	ps := make([]*pending[K, V], len(keys))
	for i, k := range keys {
		if v, ok := l.cached(k); ok {
			vals[i] = v
			continue
		}
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		ps[i] = l.join(ctx, k)
	}
	for i, p := range ps {
		if p != nil {
			vals[i], errs[i] = l.await(ctx, p, keys[i])
		}
	}
	return vals, errs
}

func (l *Loader[K, V]) cached(key K) (V, bool) {
	if l.cache == nil {
		var zero V
		return zero, false
	}
	return l.cache.Get(key)
}

// join adds key to the batch gathering keys, starting one if none is.
func (l *Loader[K, V]) join(ctx context.Context, key K) *pending[K, V] {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.cur
	if p == nil {
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		p = &pending[K, V]{ctx: bctx, cancel: cancel, waiting: map[K]int{}, done: make(chan struct{})}
		p.timer = time.AfterFunc(l.wait, func() { l.dispatch(p) })
		l.cur = p
	}
	if p.waiting[key] == 0 {
		p.keys = append(p.keys, key)
	}
	p.waiting[key]++
	p.callers++
	if len(p.waiting) >= l.maxBatch {
		l.cur = nil
		if p.timer.Stop() {
			go l.dispatch(p)
		}
	}
	return p
}

// await waits for p's result for key, or for ctx to end.
func (l *Loader[K, V]) await(ctx context.Context, p *pending[K, V], key K) (V, error) {
	select {
	case <-p.done:
		return result(p, key)
	case <-ctx.Done():
	}
	l.mu.Lock()
	select {
	case <-p.done: // finished meanwhile: take the result
		l.mu.Unlock()
		return result(p, key)
	default:
	}
	p.waiting[key]--
	p.callers--
	if p.waiting[key] == 0 {
		delete(p.waiting, key)
	}
	if p.callers == 0 {
		if !p.dispatched && p.timer.Stop() {
			// Nobody wants it: it is never fetched.
			if l.cur == p {
				l.cur = nil
			}
			p.dispatched = true
			p.err = ctx.Err()
			close(p.done)
		}
		p.cancel()
	}
	l.mu.Unlock()
	var zero V
	return zero, ctx.Err()
}

func result[K comparable, V any](p *pending[K, V], key K) (V, error) {
	if p.err != nil {
		var zero V
		return zero, p.err
	}
	v, ok := p.res[key]
	if !ok {
		return v, ErrNotFound
	}
	return v, nil
}

// dispatch fetches p's keys still wanted, once.
func (l *Loader[K, V]) dispatch(p *pending[K, V]) {
	l.mu.Lock()
	if l.cur == p {
		l.cur = nil
	}
	if p.dispatched {
		l.mu.Unlock()
		return
	}
	p.dispatched = true
	keys := make([]K, 0, len(p.waiting))
	for _, k := range p.keys {
		if p.waiting[k] > 0 {
			keys = append(keys, k)
			p.waiting[k] = -p.waiting[k] // taken; restored below
		}
	}
	for _, k := range keys {
		p.waiting[k] = -p.waiting[k]
	}
	l.mu.Unlock()
	defer p.cancel()
	if len(keys) == 0 {
		p.err = context.Canceled
		close(p.done)
		return
	}
	res, err := l.fetch(p.ctx, keys)
	if err == nil && l.cache != nil {
		for k, v := range res {
			l.cache.Add(k, v)
		}
	}
	p.res, p.err = res, err
	close(p.done)
}
