package limit

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// KeyedOptions configures a Keyed set of limiters. The zero value is valid
// and means the defaults given per field.
type KeyedOptions struct {
	// MaxKeys bounds how many limiters are kept; when a new key would pass
	// it, the least recently used limiter is dropped (its state is lost, so
	// its key starts afresh if it comes back). Zero means 10,000.
	MaxKeys int
	// IdleTTL drops a limiter that has not been asked for during IdleTTL.
	// Choose it at least as long as the longest period of the limiters, so
	// that a key is never dropped while it still owes units. Zero means
	// never drop for idleness (MaxKeys still bounds memory).
	IdleTTL time.Duration
	// Clock is read for IdleTTL; nil means the real clock.
	Clock Clock
}

// DefaultMaxKeys is the MaxKeys of a Keyed when zero is given.
const DefaultMaxKeys = 10_000

// Keyed holds one limiter per key (per tenant, per endpoint, per API key),
// created on first use by the function given to NewKeyed, evicted when idle
// or least recently used. It is safe for concurrent use.
type Keyed[K comparable] struct {
	newLimiter func(K) (Limiter, error)
	maxKeys    int
	ttl        int64
	clk        clock

	mu   sync.Mutex
	m    map[K]*keyedEntry[K] // guarded by mu
	lru  keyedEntry[K]        // guarded by mu; sentinel: lru.next is the most recent
	free *keyedEntry[K]       // guarded by mu; one evicted entry kept for reuse
}

type keyedEntry[K comparable] struct {
	key        K
	lim        Limiter
	last       int64 // ns since clk.base of the last Get
	prev, next *keyedEntry[K]
}

// NewKeyed returns an empty Keyed set. newLimiter builds the limiter for a
// key the first time it is asked for; it is called without any lock held,
// and its error is returned by Get.
func NewKeyed[K comparable](newLimiter func(K) (Limiter, error), o KeyedOptions) (*Keyed[K], error) {
	if newLimiter == nil {
		return nil, errors.New("limit: NewKeyed needs a newLimiter function")
	}
	if o.MaxKeys < 0 {
		return nil, fmt.Errorf("limit: MaxKeys %d must not be negative", o.MaxKeys)
	}
	if o.IdleTTL < 0 {
		return nil, fmt.Errorf("limit: IdleTTL %v must not be negative", o.IdleTTL)
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	k := &Keyed[K]{newLimiter: newLimiter, maxKeys: o.MaxKeys, ttl: int64(o.IdleTTL), clk: newClock(o.Clock),
		m: make(map[K]*keyedEntry[K])}
	k.lru.next, k.lru.prev = &k.lru, &k.lru
	return k, nil
}

// Get returns the limiter for key, creating it on first use.
func (k *Keyed[K]) Get(key K) (Limiter, error) {
	now := k.clk.now()
	k.mu.Lock()
	if e, ok := k.m[key]; ok {
		e.last = now
		k.moveFront(e)
		k.mu.Unlock()
		return e.lim, nil
	}
	k.mu.Unlock()

	lim, err := k.newLimiter(key)
	if err != nil {
		return nil, fmt.Errorf("limit: limiter for key %v: %w", key, err)
	}
	if lim == nil {
		return nil, fmt.Errorf("limit: newLimiter returned nil for key %v", key)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.m[key]; ok { // another Get created it meanwhile
		e.last = now
		k.moveFront(e)
		return e.lim, nil
	}
	k.evict(now)
	e := k.free
	if e != nil {
		k.free = nil
	} else {
		e = new(keyedEntry[K])
	}
	e.key, e.lim, e.last = key, lim, now
	e.prev, e.next = &k.lru, k.lru.next
	e.prev.next, e.next.prev = e, e
	k.m[key] = e
	return lim, nil
}

// Len returns how many limiters are held.
func (k *Keyed[K]) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}

// requires k.mu held
func (k *Keyed[K]) moveFront(e *keyedEntry[K]) {
	if k.lru.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = &k.lru, k.lru.next
	e.prev.next, e.next.prev = e, e
}

// evict drops idle limiters from the back and, if the set is full, the
// least recently used one. requires k.mu held
func (k *Keyed[K]) evict(now int64) {
	for {
		e := k.lru.prev
		if e == &k.lru {
			return
		}
		idle := k.ttl > 0 && now-e.last >= k.ttl
		if !idle && len(k.m) < k.maxKeys {
			return
		}
		e.prev.next, e.next.prev = e.next, e.prev
		delete(k.m, e.key)
		var zero K
		*e = keyedEntry[K]{key: zero}
		k.free = e
	}
}
