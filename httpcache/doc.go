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
//	key := httpcache.Key(req, vary)
//	if e, fresh, ok := c.Get(key); ok && fresh {
//		return e.Response(req), nil
//	}
//	resp, err := send(req)
//	if err == nil && httpcache.Storable(resp) {
//		var e *httpcache.Entry
//		e, resp, _ = httpcache.Snapshot(resp, ttl, now, c.MaxEntryBytes())
//		c.Put(key, e) // a nil e is ignored
//	}
//
// The [Cache] holds at most Options.MaxEntries entries and Options.MaxBytes
// bytes (bodies, headers, keys and a fixed overhead per entry), evicting the
// least recently used. Freshness is the route's TTL, lowered by the
// response's max-age minus its Age; expired entries stay until evicted, for
// [Cache.GetStale]. This is a client's private cache with fixed TTLs, not
// an RFC 9111 shared cache: it does not revalidate (responses saying
// no-cache are not stored), ignores Expires, and honours a response's Vary
// only as "Vary: *" (not stored); name the headers a response depends on in
// the vary list given to Key.
//
// # Keys and credentials
//
// A key is the method, the canonical URL (lower-case scheme and host, no
// default port, sorted query) and the named vary headers, plus a
// fingerprint of every credential in the request: Authorization,
// Proxy-Authorization, Cookie, API-key and token headers, key- and
// token-named query parameters, URL user info. The fingerprint is SHA-256
// over a random per-process salt and the credentials, cut to 128 bits, so
// one caller's response is never served to another credential, and no
// credential is ever held in a key (keys may be logged). Because the salt
// is per process, keys are stable within a process only.
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
