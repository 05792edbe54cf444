package httpcache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Errors of a Store.
var (
	// ErrNotFound is returned by Store.Get when no entry is stored under
	// the key (or it has expired).
	ErrNotFound = errors.New("httpcache: not found")
	// ErrTooLarge is returned by Store.Set for a value larger than the
	// store keeps; nothing is stored (and the key's old value is removed).
	ErrTooLarge = errors.New("httpcache: entry too large for the store")
)

// Store keeps serialized entries (Entry.MarshalBinary) under keys, each
// for a time to live. The Transport reads and writes its cache through a
// Store: MemoryStore, the in-process LRU, or a shared one such as
// package rediscache, so that many processes use one cache.
//
// Keys are those of Key, Keyer.Key and VariantKey: they hold no credential
// (only its keyed fingerprint, see Partition) but may be long; a store may
// hash them. Implementations must be safe for concurrent use, honour the
// context, and return errors rather than hide them: the Transport treats a
// failing store as a miss and sends the request (a cache outage never
// fails a request) and counts the error.
type Store interface {
	// Get returns the value stored under key, or an error matching
	// ErrNotFound when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key for ttl (0 means until the store's own
	// bounds evict it), replacing any value there. A value larger than
	// the store keeps gives ErrTooLarge.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the value stored under key, if any.
	Delete(ctx context.Context, key string) error
}

// EntryStore is a Store that can hold entries as they are, without
// serializing them: Load and Save use these methods when a store has
// them. MemoryStore implements it.
type EntryStore interface {
	Store
	// GetEntry returns the entry stored under key, or an error matching
	// ErrNotFound.
	GetEntry(ctx context.Context, key string) (*Entry, error)
	// SetEntry stores e under key for ttl, like Set.
	SetEntry(ctx context.Context, key string, e *Entry, ttl time.Duration) error
}

// Locker is implemented by stores shared between processes, to let one
// process fetch or revalidate an entry while the others wait for it
// (cross-process coalescing). Locks expire by themselves after their TTL,
// so a process that dies holding one blocks the others for no longer.
type Locker interface {
	// TryLock takes the lock of key for ttl unless another holder has it.
	// ok reports whether it was taken; token is what Unlock needs.
	TryLock(ctx context.Context, key string, ttl time.Duration) (token string, ok bool, err error)
	// Unlock releases the lock of key if token still holds it.
	Unlock(ctx context.Context, key, token string) error
	// Locked reports whether anyone holds the lock of key.
	Locked(ctx context.Context, key string) (bool, error)
}

// MemoryStore is the in-process Store: the Cache's bounded LRU with a
// time to live per entry. Through GetEntry and SetEntry (EntryStore) it
// keeps entries as they are, so the Transport's hit path costs what a
// Cache lookup does; Get and Set serialize. It never returns an error
// other than ErrNotFound (and ErrCorrupt from Set for bytes that are not
// an entry).
type MemoryStore struct {
	c *Cache
}

// NewMemoryStore returns an empty MemoryStore bounded by o, as New.
func NewMemoryStore(o Options) (*MemoryStore, error) {
	c, err := New(o)
	if err != nil {
		return nil, err
	}
	return &MemoryStore{c: c}, nil
}

// Cache returns the LRU holding the store's entries.
func (s *MemoryStore) Cache() *Cache { return s.c }

// GetEntry implements EntryStore.
func (s *MemoryStore) GetEntry(_ context.Context, key string) (*Entry, error) {
	e, _, ok := s.c.Get(key)
	if !ok {
		return nil, ErrNotFound
	}
	return e, nil
}

// SetEntry implements EntryStore. An entry larger than the cache's
// MaxBytes gives ErrTooLarge.
func (s *MemoryStore) SetEntry(_ context.Context, key string, e *Entry, ttl time.Duration) error {
	if e == nil {
		return errors.New("httpcache: SetEntry of a nil entry")
	}
	var deadline time.Time
	if ttl > 0 {
		deadline = s.c.now().Add(ttl)
	}
	if e.size+int64(len(key)) > s.c.maxBytes {
		s.c.Delete(key)
		return ErrTooLarge
	}
	s.c.put(key, e, deadline)
	return nil
}

// Get implements Store, serializing the entry.
func (s *MemoryStore) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := s.GetEntry(ctx, key)
	if err != nil {
		return nil, err
	}
	return e.MarshalBinary()
}

// Set implements Store; value must be a serialized entry.
func (s *MemoryStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	e, err := ParseEntry(value)
	if err != nil {
		return err
	}
	return s.SetEntry(ctx, key, e, ttl)
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key string) error {
	s.c.Delete(key)
	return nil
}

// getEntry reads the entry under key from s: nil, nil on a miss.
func getEntry(ctx context.Context, s Store, key string) (*Entry, error) {
	var e *Entry
	var err error
	if es, ok := s.(EntryStore); ok {
		e, err = es.GetEntry(ctx, key)
	} else {
		var b []byte
		if b, err = s.Get(ctx, key); err == nil {
			e, err = ParseEntry(b)
		}
	}
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return e, err
}

func setEntry(ctx context.Context, s Store, key string, e *Entry, ttl time.Duration) error {
	if es, ok := s.(EntryStore); ok {
		return es.SetEntry(ctx, key, e, ttl)
	}
	b, err := e.MarshalBinary()
	if err != nil {
		return err
	}
	return s.Set(ctx, key, b, ttl)
}

// Load is Cache.Lookup for a Store: it returns the entry for req stored
// under base (req's key) by Save, following a Vary marker to the variant
// of req's header values. key is the key the entry was found under (or
// would be stored under). A miss is e == nil with a nil error; err is the
// store's failure (or ErrCorrupt), which callers treat as a miss.
func Load(ctx context.Context, s Store, base string, req *http.Request) (e *Entry, key string, err error) {
	e, err = getEntry(ctx, s, base)
	if err != nil || e == nil || e.marker == nil {
		return e, base, err
	}
	key = VariantKey(base, req, e.marker)
	e, err = getEntry(ctx, s, key)
	return e, key, err
}

// Save is Cache.Store for a Store: it stores e for req under base (req's
// key), or, when e's response varied on request headers, under the
// variant key of req's values with a marker under base, each for ttl.
func Save(ctx context.Context, s Store, base string, req *http.Request, e *Entry, ttl time.Duration) error {
	if e == nil {
		return errors.New("httpcache: Save of a nil entry")
	}
	if len(e.vary) == 0 {
		return setEntry(ctx, s, base, e, ttl)
	}
	m := &Entry{marker: e.vary, header: http.Header{}, size: entryOverhead}
	m.stored, m.expires = e.stored, e.stored
	if err := setEntry(ctx, s, base, m, ttl); err != nil {
		return fmt.Errorf("httpcache: store the Vary marker: %w", err)
	}
	return setEntry(ctx, s, VariantKey(base, req, e.vary), e, ttl)
}

// ServableStale reports whether e may be served stale at now, after an
// upstream failure, by a rule allowing maxStale past its expiry: it is not
// a Vary marker, its response did not say must-revalidate,
// proxy-revalidate or no-cache (RFC 9111 4.2.4), and it expired less than
// maxStale ago (or is fresh). Cache.GetStale applies the same rule.
func (e *Entry) ServableStale(now time.Time, maxStale time.Duration) bool {
	return e.marker == nil && !e.mustRevalidate && now.Before(e.expires.Add(maxStale))
}
