// Package batch turns many single-key lookups into few batched calls: a
// generic [Loader] gathers the keys concurrent callers ask for during a
// short window (Options.Wait) or until a batch is full (Options.MaxBatch),
// drops duplicates, calls the user's [Func] once per batch, and hands each
// caller its own value or error.
//
//	l, err := batch.New(func(ctx context.Context, ids []int) (map[int]User, error) {
//		// one request: GET /users?ids=1,2,3 through a sluice client
//	}, batch.Options[int, User]{Wait: 2 * time.Millisecond, MaxBatch: 100})
//	u, err := l.Load(ctx, 42)
//
// # Contexts
//
// Each caller's context governs only its own wait. A caller whose context
// ends returns its error at once and leaves the batch: its key is dropped if
// no other caller asked for it, and a batch nobody waits for any more is
// never fetched, or, when it is already being fetched, has its context
// canceled. The batch's context keeps the first caller's values (so a
// sluice priority or cost set with the context carries over) but none of its
// callers' cancellation or deadline; the Func's transport bounds its call.
//
// # Rate limits
//
// A batch is one request: sent through a sluice Transport, it takes one
// unit from each rate limit of its route and one from the provider's
// quota, whatever its size, so 1,000 single-id lookups batched 100 at a
// time cost 10 requests. Where the provider charges per id (a points-based
// API), give the request its real cost with sluice.WithCost(ctx, len(ids))
// inside the Func: the route's weighted limits then pace the batch as the
// provider will count it. MaxBatch should not exceed the largest batch the
// API accepts, and Wait adds at most that much latency to a lookup.
//
// # Cache
//
// Options.Cache keeps fetched values per key (any Get/Add cache; a
// hashicorp/golang-lru/v2 *lru.Cache fits as is); keys found there are
// answered without joining a batch. Errors are never cached.
package batch
