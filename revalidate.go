package sluice

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/httpcache"
)

// Background revalidation (stale-while-revalidate) bounds.
const (
	// maxBackground is the most background revalidations in flight per
	// Transport; a stale entry found while all are busy is still served,
	// and revalidated by a later request.
	maxBackground = 8
	// backgroundTimeout bounds one background revalidation.
	backgroundTimeout = 30 * time.Second
)

// negotiated are the request headers a response commonly varies on.
// Requests that differ in them never share a coalesced call, since the
// response's Vary header is only known once it arrives.
var negotiated = []string{"Accept", "Accept-Encoding", "Accept-Language"}

// revalidationKey marks the context of the cache's conditional requests,
// so that the quota step does not charge them where a 304 is free.
type revalidationKey struct{}

// lookup is the cache step's view of one request.
type lookup struct {
	base  string           // Key(req, route vary)
	key   string           // the variant key the entry is (or would be) under
	entry *httpcache.Entry // the stored entry, fresh or not; nil on a miss
}

// coalesceKey is the key identical requests share a call under: the
// variant key, plus the negotiated headers when no variant is known yet.
func (l lookup) coalesceKey(req *http.Request) string {
	return httpcache.VariantKey(l.key, req, negotiated)
}

// requestNoCache reports whether req asks for a response validated with
// the origin (Cache-Control: no-cache or max-age=0, or Pragma: no-cache).
func requestNoCache(req *http.Request) bool {
	for _, line := range req.Header["Cache-Control"] {
		for _, d := range splitList(line) {
			if d == "no-cache" || d == "max-age=0" {
				return true
			}
		}
	}
	return req.Header.Get("Pragma") == "no-cache" && req.Header.Get("Cache-Control") == ""
}

func splitList(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			f := s[start:i]
			for len(f) > 0 && (f[0] == ' ' || f[0] == '\t') {
				f = f[1:]
			}
			for len(f) > 0 && (f[len(f)-1] == ' ' || f[len(f)-1] == '\t') {
				f = f[:len(f)-1]
			}
			out = append(out, toLower(f))
			start = i + 1
		}
	}
	return out
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// fetch sends req through the route's pipeline and stores a storable
// response. With a stored entry that has a validator, the request is
// conditional; a 304 refreshes the entry (its header merged with the
// 304's) and the caller gets the stored body, marked
// "X-Sluice-Cache: revalidated".
func (t *Transport) fetch(req *http.Request, rt *route, host string, l lookup) (*http.Response, error) {
	e := l.entry
	if e != nil && e.HasValidator() {
		cr := e.Conditional(req)
		cr = cr.WithContext(context.WithValue(cr.Context(), revalidationKey{}, true))
		resp, err := t.send(cr, rt, host)
		if err != nil || resp.StatusCode != http.StatusNotModified {
			return t.store(req, rt, l, resp, err)
		}
		drainClose(resp)
		if e.Matches304(resp.Header) {
			now := t.now()
			rt.stats.notModified.Add(1)
			t.event(req.Context(), slog.LevelDebug, "cache_revalidated", rt, req)
			n := e.Refresh(resp.Header, rt.pol.cache.TTL, now)
			t.save(req.Context(), rt, req, l.base, n)
			out := markCached(n.ResponseAt(req, now))
			out.Header.Set(httpcache.CacheHeader, httpcache.HitRevalidated)
			return out, nil
		}
		// The 304 names another representation than the one stored
		// (RFC 9111 4.3.4): drop it and ask again, unconditionally.
		if err := t.cs.store.Delete(req.Context(), l.key); err != nil {
			t.storeFailed(req.Context(), rt, req, "delete", err)
		}
	}
	resp, err := t.send(req, rt, host)
	return t.store(req, rt, l, resp, err)
}

// store keeps a storable response in the cache and returns the response
// the caller reads.
func (t *Transport) store(req *http.Request, rt *route, l lookup, resp *http.Response, err error) (*http.Response, error) {
	if err != nil || !httpcache.Storable(resp) {
		return resp, err
	}
	e, r, serr := httpcache.Snapshot(resp, rt.pol.cache.TTL, t.now(), t.cs.maxEntry)
	if serr == nil && e != nil {
		t.save(req.Context(), rt, req, l.base, e)
	}
	return r, nil
}

// background runs the Transport's stale-while-revalidate refreshes: at
// most maxBackground at once, one per key. Close cancels and waits for
// them.
type background struct {
	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	inflight map[string]bool // guarded by mu
	closed   bool            // guarded by mu
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel, inflight: map[string]bool{}}
}

// start runs fn in its own goroutine unless one is already running for key,
// maxBackground are running, or b is closed. fn's context keeps the
// request context's values, not its cancellation; it ends after
// backgroundTimeout or when b closes.
func (b *background) start(ctx context.Context, key string, fn func(context.Context)) bool {
	b.mu.Lock()
	if b.closed || b.inflight[key] || len(b.inflight) >= maxBackground {
		b.mu.Unlock()
		return false
	}
	b.inflight[key] = true
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		defer func() {
			b.mu.Lock()
			delete(b.inflight, key)
			b.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundTimeout)
		defer cancel()
		stop := context.AfterFunc(b.ctx, cancel)
		defer stop()
		fn(ctx)
	}()
	return true
}

// close cancels the running refreshes and waits for them to end.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

// revalidateInBackground refreshes l's entry without a caller waiting,
// sharing a call with any identical request in flight.
func (t *Transport) revalidateInBackground(req *http.Request, rt *route, host string, l lookup) {
	ck := l.coalesceKey(req)
	t.bg.start(req.Context(), ck, func(ctx context.Context) {
		r := req.Clone(ctx)
		resp, _, err := rt.group.Do(ctx, ck, func(gctx context.Context) (*http.Response, error) {
			return t.fetchShared(r.WithContext(gctx), rt, host, l)
		})
		if err == nil {
			drainClose(resp)
		}
	})
}
