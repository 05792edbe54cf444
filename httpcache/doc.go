// Package httpcache is the response cache and request coalescing of
// sluice's Transport: a bounded LRU + TTL cache of response snapshots with
// credential-aware keys, and a Group that lets identical concurrent
// requests share one upstream call.
//
// # Cache
//
// A request that may use the cache ([Cacheable]: GET or HEAD, no body, no
// Range, no "Cache-Control: no-store") is looked up by [Key]. On a miss the
// Transport sends it, and a response that may be kept ([Storable]) is
// turned into an immutable [Entry] by [Snapshot], which reads the body once
// (up to [Cache.MaxEntryBytes]) and hands back a replacement response that
// replays it, so the caller never loses a byte, even when the body is too
// large to keep. Each hit builds a new response from the entry
// ([Entry.Response]) with its own body reader and header copy, an Age
// header, "X-Sluice-Cache: hit" and "X-From-Cache: 1" (gregjones/httpcache's
// marker, which go-github reads to leave its rate view alone);
// [Entry.StaleResponse] serves an expired
// entry after an upstream failure, marked "X-Sluice-Cache: stale" and
// "Warning: 110 - \"Response is Stale\"".
//
//	base := httpcache.Key(req, vary)
//	e, _, ok := c.Lookup(base, req)
//	if ok && e.Fresh(now) {
//		return e.Response(req), nil
//	}
//	if ok && e.HasValidator() {
//		req = e.Conditional(req) // a 304 then goes to e.Refresh
//	}
//	resp, err := send(req)
//	if err == nil && httpcache.Storable(resp) {
//		var e *httpcache.Entry
//		e, resp, _ = httpcache.Snapshot(resp, ttl, now, c.MaxEntryBytes())
//		c.Store(base, req, e) // a nil e is ignored
//	}
//
// The [Cache] holds at most Options.MaxEntries entries and Options.MaxBytes
// bytes (bodies, headers, keys and a fixed overhead per entry), evicting the
// least recently used. Freshness is the route's TTL, lowered by the
// response's max-age minus its Age; expired entries stay until evicted, for
// revalidation and [Cache.GetStale].
//
// # Revalidation (RFC 9111)
//
// A stale entry with a validator (ETag or Last-Modified) is not refetched
// but revalidated: [Entry.Conditional] adds If-None-Match and
// If-Modified-Since to the request, and when the upstream answers 304 Not
// Modified, [Entry.Refresh] makes a new entry with the stored body and the
// stored header updated by the 304's (hop-by-hop fields and Content-Length
// excepted), fresh again. [Entry.Matches304] rejects a 304 naming another
// representation. A response saying no-cache is stored only with a
// validator, and revalidated before every use; must-revalidate,
// proxy-revalidate and no-cache entries are never served stale
// ([Cache.GetStale] skips them); stale-while-revalidate=N lets an entry be
// served for N seconds past its expiry while it is revalidated in the
// background ([Entry.StaleWhileRevalidate]).
//
// A response's Vary header is honoured: [Cache.Store] keeps each variant
// under [VariantKey] (the base key plus the request's values of the named
// headers) and leaves a marker under the base key, and [Cache.Lookup]
// follows it, so requests differing in a varied header never share an
// entry. Expires and heuristic freshness are ignored: without max-age an
// entry lives for the route's TTL.
//
// # Keys and credentials
//
// A key is the method, the canonical URL (lower-case scheme and host, no
// default port, sorted query) and the named vary headers, plus a
// fingerprint of every credential in the request: Authorization,
// Proxy-Authorization, Cookie, API-key and token headers, key- and
// token-named query parameters, URL user info. The fingerprint is
// HMAC-SHA256 keyed by a random per-process salt, cut to 128 bits, so
// one caller's response is never served to another credential, and no
// credential is ever held in a key (keys may be logged). Because the salt
// is per process, keys are stable within a process only; a [Keyer] made
// with a caller's secret salt gives keys that every process holding the
// salt computes alike, for a shared store. [Partition] returns the
// fingerprint from a key.
//
// # Stores
//
// [Store] is the pluggable storage of serialized entries
// ([Entry.MarshalBinary], [ParseEntry]) with a time to live: get, set and
// delete, context first, errors returned. [Load] and [Save] are
// [Cache.Lookup] and [Cache.Store] over any Store, Vary markers included.
// [MemoryStore] is the in-process implementation over the Cache's LRU; it
// also implements [EntryStore], so entries are never serialized in
// memory. Package rediscache is the shared one; it implements [Locker]
// too, which sluice's Transport uses to coalesce fetches across processes.
//
// # Coalescing
//
// [Group.Do] runs one call per key for all concurrent callers and gives
// each its own response with its own body, buffered once (up to
// Group.MaxBodyBytes, 4 MiB by default). The call runs detached from any
// one caller: a caller whose context ends returns at once and the call
// goes on for the others; only when every caller has left is the call
// canceled. A body too large to buffer goes, streamed, to the first caller
// served, and the others make their own calls.
package httpcache
