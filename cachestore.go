package sluice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/sluicehq/sluice/httpcache"
	"github.com/sluicehq/sluice/httpcache/rediscache"
	"github.com/sluicehq/sluice/internal/redact"
)

// Cache store defaults (CacheLimits).
const (
	defaultRetain   = 24 * time.Hour
	defaultLockTTL  = 5 * time.Second
	minSaltBytes    = 16
	storeMemory     = "memory"
	storeRedis      = "redis"
	lockPollStart   = 5 * time.Millisecond
	lockPollMax     = 50 * time.Millisecond
	storeOpsTimeout = time.Second // bounds the store calls of one request besides the store's own
)

// cacheStore is the Transport's cache: where entries live, how keys are
// made, and the bounds of shared fetches.
type cacheStore struct {
	store    httpcache.Store
	locker   httpcache.Locker // the store's, when it coordinates processes; nil otherwise
	keyer    *httpcache.Keyer
	maxEntry int64 // the largest body snapshotted
	retain   time.Duration
	lockTTL  time.Duration
	lockWait time.Duration
}

// cacheLimits validates the cache section.
func (ck *checker) cacheLimits(c CacheLimits) {
	if c.MaxEntries < 0 {
		ck.add("cache.max_entries", "%d must not be negative", c.MaxEntries)
	}
	if c.MaxBytes < 0 {
		ck.add("cache.max_bytes", "%d must not be negative", c.MaxBytes)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"cache.retain", c.Retain}, {"cache.lock_ttl", c.LockTTL}, {"cache.lock_wait", c.LockWait}} {
		if f.v < 0 {
			ck.add(f.name, "%v must not be negative", f.v)
		}
	}
	if c.MaxEntryBytes < 0 {
		ck.add("cache.max_entry_bytes", "%d must not be negative", c.MaxEntryBytes)
	}
	switch c.Store {
	case "", storeMemory:
		if c.Backend != nil {
			break
		}
		if maxBytes := cmp0(c.MaxBytes, httpcache.DefaultMaxBytes); c.MaxEntryBytes > maxBytes {
			ck.add("cache.max_entry_bytes", "%d exceeds cache.max_bytes (%d)", c.MaxEntryBytes, maxBytes)
		}
		if c.Prefix != "" {
			ck.add("cache.prefix", "applies only to store redis")
		}
		if c.LockTTL != 0 || c.LockWait != 0 {
			ck.add("cache.lock_ttl", "lock_ttl and lock_wait apply only to a shared store (redis)")
		}
	case storeRedis:
		if !ck.redis {
			ck.add("cache.store", "redis needs the redis section (the cache uses its connection)")
		}
		if c.SaltEnv == "" && len(c.Salt) == 0 {
			ck.add("cache.salt_env", "is required with store redis: name an environment variable holding a secret of at least %d bytes, the same in every process sharing the cache", minSaltBytes)
		}
	default:
		ck.add("cache.store", "%q is not a store: want memory or redis", c.Store)
	}
	if c.Backend != nil && c.Store != "" {
		ck.add("cache.store", "%q and a Backend are both set; set one", c.Store)
	}
	if c.SaltEnv != "" && len(c.Salt) == 0 {
		if v, ok := os.LookupEnv(c.SaltEnv); !ok {
			ck.add("cache.salt_env", "environment variable %s is not set", c.SaltEnv)
		} else if len(v) < minSaltBytes {
			ck.add("cache.salt_env", "environment variable %s holds %d bytes; use a secret of at least %d", c.SaltEnv, len(v), minSaltBytes)
		}
	} else if n := len(c.Salt); n > 0 && n < minSaltBytes {
		ck.add("cache.salt", "%d bytes; use a secret of at least %d", n, minSaltBytes)
	}
}

func cmp0[T int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// newCacheStore builds the cache of a validated Config; lb holds the
// redis section's client.
func newCacheStore(c CacheLimits, lb *limitBuilder, rc *RedisConfig) (*cacheStore, error) {
	cs := &cacheStore{retain: cmp0(c.Retain, defaultRetain)}
	salt := c.Salt
	if len(salt) == 0 && c.SaltEnv != "" {
		salt = []byte(os.Getenv(c.SaltEnv))
	}
	cs.keyer = httpcache.NewKeyer(salt) // empty: random, this process only
	switch {
	case c.Backend != nil:
		cs.store = c.Backend
		cs.maxEntry = cmp0(c.MaxEntryBytes, rediscache.DefaultMaxEntryBytes)
	case c.Store == storeRedis:
		prefix := c.Prefix
		if prefix == "" {
			prefix = "sluice"
			if rc != nil && rc.Prefix != "" {
				prefix = rc.Prefix
			}
			prefix += ":cache"
		}
		o := rediscache.Options{Prefix: prefix, MaxEntryBytes: c.MaxEntryBytes}
		if rc != nil && rc.Timeout > 0 {
			o.Timeout = max(rc.Timeout, rediscache.DefaultTimeout)
		}
		s, err := rediscache.New(lb.redis, o)
		if err != nil {
			return nil, fmt.Errorf("sluice: cache: %w", err)
		}
		cs.store, cs.maxEntry = s, s.MaxEntryBytes()
	default:
		s, err := httpcache.NewMemoryStore(httpcache.Options{MaxEntries: c.MaxEntries, MaxBytes: c.MaxBytes})
		if err != nil {
			return nil, fmt.Errorf("sluice: cache: %w", err)
		}
		cs.store = s
		cs.maxEntry = cmp0(c.MaxEntryBytes, s.Cache().MaxEntryBytes())
	}
	if l, ok := cs.store.(httpcache.Locker); ok {
		cs.locker = l
		cs.lockTTL = cmp0(c.LockTTL, defaultLockTTL)
		cs.lockWait = cmp0(c.LockWait, cs.lockTTL)
	}
	return cs, nil
}

// retention is how long the store keeps e, stored at now by rt: while it
// is fresh, then for the longest of the windows it may still be used in:
// revalidation (Retain, when it has a validator), stale_if_error and
// stale-while-revalidate.
func (cs *cacheStore) retention(e *httpcache.Entry, rt *route, now time.Time) time.Duration {
	extra := rt.pol.cache.StaleIfError
	if e.HasValidator() {
		extra = max(extra, cs.retain)
	}
	if swr := e.StaleWhileRevalidateWindow(); swr > extra {
		extra = swr
	}
	return max(e.Expires().Sub(now), 0) + max(extra, time.Second)
}

// load looks l's entry up in the store; a store failure is a miss.
func (t *Transport) load(ctx context.Context, rt *route, req *http.Request, base string) (*httpcache.Entry, string) {
	e, key, err := httpcache.Load(ctx, t.cs.store, base, req)
	if err != nil {
		t.storeFailed(ctx, rt, req, "get", err)
		return nil, key
	}
	return e, key
}

// save stores e for req, counting and logging a store failure. An entry
// too large for the store is not a failure.
func (t *Transport) save(ctx context.Context, rt *route, req *http.Request, base string, e *httpcache.Entry) {
	err := httpcache.Save(ctx, t.cs.store, base, req, e, t.cs.retention(e, rt, t.now()))
	if err != nil && !errors.Is(err, httpcache.ErrTooLarge) {
		t.storeFailed(ctx, rt, req, "set", err)
	}
}

// storeFailed counts and logs a failure of the cache store. The request
// goes on as if the cache had missed. The log holds the operation, the
// route and the request's redacted URL, and the error with URLs redacted:
// never a key, a fingerprint or a header.
func (t *Transport) storeFailed(ctx context.Context, rt *route, req *http.Request, op string, err error) {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return // the caller left; the store is fine
	}
	rt.stats.storeErrors.Add(1)
	t.event(ctx, slog.LevelWarn, "cache_store_error", rt, req, slog.String("op", op), slog.String("error", redact.Error(err).Error()))
}

// storeCtx bounds the store calls made for one request: the request's
// values and cancellation, at most storeOpsTimeout.
func storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, storeOpsTimeout)
}

// fetchShared is fetch for a store shared between processes
// (httpcache.Locker): the process that takes the entry's lock fetches or
// revalidates it; the others wait, at most LockWait, for the lock to go,
// and answer from the entry it stored. A process that finds nothing new
// when the lock goes takes it in turn; one whose wait runs out, or whose
// store fails, fetches without the lock. Every wait is bounded by
// LockWait and the request's context.
func (t *Transport) fetchShared(req *http.Request, rt *route, host string, l lookup) (*http.Response, error) {
	cs := t.cs
	if cs.locker == nil || requestNoCache(req) {
		return t.fetch(req, rt, host, l)
	}
	ctx := req.Context()
	deadline := time.Now().Add(cs.lockWait)
	poll := lockPollStart
	for {
		token, ok, err := cs.locker.TryLock(ctx, l.key, cs.lockTTL)
		if err != nil {
			t.storeFailed(ctx, rt, req, "lock", err)
			return t.fetch(req, rt, host, l)
		}
		if ok {
			defer func() {
				uctx, cancel := storeCtx(context.WithoutCancel(ctx))
				defer cancel()
				if err := cs.locker.Unlock(uctx, l.key, token); err != nil {
					t.storeFailed(ctx, rt, req, "unlock", err)
				}
			}()
			// The entry may have been refreshed since the lookup, by a
			// holder that has let go just now: one GET of the store
			// before an upstream request.
			resp, e := t.refreshed(ctx, rt, req, l)
			if resp != nil {
				return resp, nil
			}
			if e != nil {
				l.entry = e // revalidate the newest entry
			}
			return t.fetch(req, rt, host, l)
		}
		// Another process fetches: wait for its lock to go.
		for {
			if !time.Now().Before(deadline) {
				t.event(ctx, slog.LevelDebug, "cache_lock_timeout", rt, req)
				return t.fetch(req, rt, host, l)
			}
			tm := time.NewTimer(min(poll, time.Until(deadline)))
			select {
			case <-ctx.Done():
				tm.Stop()
				return nil, ctx.Err()
			case <-tm.C:
			}
			poll = min(2*poll, lockPollMax)
			locked, err := cs.locker.Locked(ctx, l.key)
			if err != nil {
				t.storeFailed(ctx, rt, req, "lock", err)
				return t.fetch(req, rt, host, l)
			}
			if !locked {
				break
			}
		}
		if resp, _ := t.refreshed(ctx, rt, req, l); resp != nil {
			return resp, nil
		}
	}
}

// refreshed returns a response from l's entry if the store now holds a
// fresh one (another process fetched or revalidated it since the lookup),
// counting it in CoalescedShared; otherwise a nil response and
// the entry found, if any.
func (t *Transport) refreshed(ctx context.Context, rt *route, req *http.Request, l lookup) (*http.Response, *httpcache.Entry) {
	e, _ := t.load(ctx, rt, req, l.base)
	now := t.now()
	if e == nil || !e.Fresh(now) {
		return nil, e
	}
	rt.stats.coalescedShared.Add(1)
	t.event(ctx, slog.LevelDebug, "coalesced_shared", rt, req)
	return markCached(e.ResponseAt(req, now)), nil
}
