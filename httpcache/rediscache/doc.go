// Package rediscache is a Redis implementation of httpcache.Store and
// httpcache.Locker, so that proxy replicas and many workers share one
// response cache and coalesce their fetches across processes.
//
// # Keys and credentials
//
// Entries are partitioned by the credential fingerprint of their cache key
// (httpcache.Partition): an entry for key k is stored under
//
//	<prefix>:p:<fingerprint>:e:<hash of k>
//
// ("public" stands for the fingerprint of requests without credentials),
// and its fetch lock under the same name with "l" for "e". The value starts
// with k itself, checked on every read, so two keys whose hashes collide
// never see each other's entry. Keys from httpcache.Key hold no credential,
// only a keyed fingerprint: build them with an httpcache.Keyer whose salt
// is a secret shared by the processes (sluice's cache.salt_env), so that
// they compute the same keys and Redis never holds an unsalted hash that a
// guessed credential could be checked against. Purge removes every entry
// of one fingerprint.
//
// # Bounds
//
// Every key is written with a time to live (the TTL the caller asks for,
// capped by Options.MaxTTL), and a value larger than Options.MaxEntryBytes
// is refused with httpcache.ErrTooLarge. Redis itself bounds the total:
// set maxmemory on the server with an eviction policy (allkeys-lru, or
// volatile-lru / volatile-ttl when the database holds other keys: every
// key of this package has a TTL, so the volatile policies can evict all of
// them). The total is then at most maxmemory, and no entry outlives its TTL.
//
// # Failures
//
// Every call is bounded by Options.Timeout. A failing Redis gives errors,
// never panics; after a failure the store answers ErrUnavailable for
// Options.Backoff without asking Redis, so that while Redis is down
// requests pay no Redis timeouts. sluice's Transport treats every store
// error as a miss and sends the request itself (fail open), logs it without
// the key's credential fingerprint or any header, and counts it in
// RouteStats.CacheStoreErrors.
//
// # Locks
//
// TryLock is SET NX PX with a random token, Unlock a compare-and-delete
// script, so a holder never releases a lock that expired and was taken by
// another. A lock expires after its TTL, so a holder that dies blocks the
// others for no longer than that.
package rediscache
