package httpcache

import (
	"container/list"
	"fmt"
	"sync"
	"time"
)

// Defaults applied by New to zero fields of Options.
const (
	DefaultMaxEntries       = 1000
	DefaultMaxBytes   int64 = 64 << 20
)

// Options configures a Cache.
type Options struct {
	// MaxEntries is the most entries held. 0 means 1000; negative is an
	// error.
	MaxEntries int
	// MaxBytes is the most bytes held, counting each entry's Size and key.
	// 0 means 64 MiB; negative is an error.
	MaxBytes int64
	// Now is the clock used for freshness. nil means time.Now.
	Now func() time.Time
}

// Cache is a bounded LRU cache of response snapshots keyed by Key. It is
// safe for concurrent use. Expired entries are kept (for GetStale) until
// the least-recently-used rule evicts them or Put replaces them.
type Cache struct {
	maxEntries int
	maxBytes   int64
	now        func() time.Time

	mu    sync.Mutex
	items map[string]*list.Element // guarded by mu; values are *item
	lru   list.List                // guarded by mu; front is most recently used
	bytes int64                    // guarded by mu
}

type item struct {
	key      string
	e        *Entry
	deadline time.Time // when the item goes (MemoryStore's TTL); zero: never
}

// gone reports whether it passed its deadline at now.
func (it *item) gone(now time.Time) bool {
	return !it.deadline.IsZero() && !now.Before(it.deadline)
}

// New returns an empty Cache bounded by o. It reports an error naming a
// negative bound.
func New(o Options) (*Cache, error) {
	switch {
	case o.MaxEntries < 0:
		return nil, fmt.Errorf("httpcache: MaxEntries %d must not be negative", o.MaxEntries)
	case o.MaxBytes < 0:
		return nil, fmt.Errorf("httpcache: MaxBytes %d must not be negative", o.MaxBytes)
	}
	c := &Cache{maxEntries: o.MaxEntries, maxBytes: o.MaxBytes, now: o.Now, items: map[string]*list.Element{}}
	if c.maxEntries == 0 {
		c.maxEntries = DefaultMaxEntries
	}
	if c.maxBytes == 0 {
		c.maxBytes = DefaultMaxBytes
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// MaxEntryBytes returns the largest body worth snapshotting for this cache:
// an eighth of MaxBytes, so one response never evicts most of the cache.
// Pass it to Snapshot.
func (c *Cache) MaxEntryBytes() int64 { return c.maxBytes / 8 }

// Get returns the entry stored under key, whether it is still fresh, and
// whether there was one. A hit, fresh or not, makes the entry the most
// recently used.
func (c *Cache) Get(key string) (e *Entry, fresh bool, ok bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false, false
	}
	it := el.Value.(*item)
	if it.gone(now) {
		c.remove(el)
		return nil, false, false
	}
	c.lru.MoveToFront(el)
	return it.e, it.e.Fresh(now), true
}

// GetStale returns the entry stored under key if it expired less than
// maxStale ago (or is still fresh), for serving when the upstream fails.
// An entry whose response said must-revalidate, proxy-revalidate or
// no-cache is never returned (RFC 9111 4.2.4).
func (c *Cache) GetStale(key string, maxStale time.Duration) (*Entry, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	it := el.Value.(*item)
	e := it.e
	if it.gone(now) {
		c.remove(el)
		return nil, false
	}
	if e.marker != nil || e.mustRevalidate || !now.Before(e.expires.Add(maxStale)) {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e, true
}

// Put stores e under key, replacing any entry there, and evicts the least
// recently used entries until both bounds hold. An entry larger than
// MaxBytes is not stored (and the key's old entry is removed, since it is
// superseded). A nil e is ignored.
func (c *Cache) Put(key string, e *Entry) {
	c.put(key, e, time.Time{})
}

// put is Put with a deadline after which the entry is gone (zero: none).
func (c *Cache) put(key string, e *Entry, deadline time.Time) {
	if e == nil {
		return
	}
	size := e.size + int64(len(key))
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	if size > c.maxBytes {
		return
	}
	c.items[key] = c.lru.PushFront(&item{key: key, e: e, deadline: deadline})
	c.bytes += size
	for c.lru.Len() > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.lru.Back())
	}
}

// Delete removes the entry stored under key, if any.
func (c *Cache) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
}

// remove drops el. It requires c.mu held.
func (c *Cache) remove(el *list.Element) {
	it := c.lru.Remove(el).(*item)
	delete(c.items, it.key)
	c.bytes -= it.e.size + int64(len(it.key))
}

// Len returns the number of entries held, fresh or expired.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Bytes returns the bytes held, as counted against MaxBytes.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
