// Package redislimit provides rate limiters whose state lives in Redis, so
// that many worker processes share one quota. They implement
// [limit.Limiter], like the local limiters in package limit.
//
//	client, _ := redislimit.NewClient(redislimit.Config{Addr: "127.0.0.1:6379"})
//	l, err := redislimit.NewBucket(client, "github", limit.PerSecond(50).WithBurst(10), redislimit.Options{})
//	...
//	if err := l.Wait(ctx, 1); err != nil { ... }
//
// # Algorithms
//
// [NewBucket] runs GCRA (the generic cell rate algorithm): the whole state of
// a bucket is one number, the theoretical arrival time (TAT). A request of n
// units is granted from the instant TAT + n*T - tau, where T is the emission
// interval (Period/Count) and tau = T*burst; burst is the total instant
// capacity, as in go-redis/redis_rate. Weighted cost is n > 1. Reserve and
// Wait take a future slot in the same call (TAT moves forward) and then sleep
// locally until it: Redis is asked once, never polled, and callers are served
// in the order Redis granted them.
//
// [NewWindow] keeps strict sliding windows: at most Count units in any
// interval of length Period, for each of several rates, taken all-or-nothing
// (e.g. 350 per 10 s and 10,000 per hour). Grants are kept in a sorted set,
// scored by the instant they may be used, so memory is bounded by the
// windows' counts (plus grants reserved ahead); per-window running sums make
// a decision cost O(n) in the units it must wait for, not O(N).
//
// # One round trip per decision
//
// Each decision is one Lua script, run by EVALSHA (go-redis falls back to
// EVAL, which also caches the script, only when the server answers
// NOSCRIPT, e.g. after a restart). The scripts are embedded with go:embed:
//
//	gcra.lua           GCRA grant, reservation, leasing, pause check
//	gcra_cancel.lua    give a bucket reservation back
//	window.lua         sliding windows, all-or-nothing, pause check
//	window_cancel.lua  give a window reservation back
//	pause.lua          set the shared pause
//
// # Keys
//
// Every key of a limiter carries the hash tag {prefix:name}, so all of them
// live in one Redis Cluster slot and one script may touch them together:
//
//	{prefix:name}:tat    bucket TAT (microseconds, Redis clock)
//	{prefix:name}:log    window grants (sorted set)
//	{prefix:name}:meta   window bookkeeping (hash)
//	{prefix:name}:pause  instant before which nothing is granted
//
// Buckets and windows with the same prefix and name share the pause. Every
// write sets a TTL: a TAT expires when the bucket is full again, a window's
// keys when its last grant has left the largest window, a pause when it
// ends. Idle limiters leave nothing behind.
//
// # Time
//
// Scripts read the time with Redis TIME, in microseconds, so workers with
// skewed clocks agree. Only durations cross the wire: a script returns "usable
// in 30ms", and the worker adds that to its own clock. PauseUntil sends the
// pause as a duration from now, applied on the Redis clock.
//
// # The shared pause
//
// When a provider answers 429 with Retry-After, one worker calls
// PauseUntil; every decision script reads the pause key in the same call, so
// every worker sees it in its next decision (Reserve and Wait grant after it).
// A pause never shortens a longer one. The worker that sets it also honours
// it locally, without asking Redis.
//
// # Remembered refusals
//
// When Redis refuses Allow a single unit, usable only after some wait, no
// Allow of any cost can succeed before then; the limiter remembers the
// instant (on its own clock) and refuses locally until it, counting
// Stats.LocalDenials. An over-limit key then costs Redis nothing, as in
// Envoy's over-limit cache. A grant to Reserve or Wait in this process,
// a Cancel and SetRate forget the refusal. Grants and cancellations by other
// workers are not seen: the remembered instant may then be early (the next
// Allow asks Redis again and learns the new one) or, after another worker
// cancels, late by at most the wait Redis had given.
//
// # Token leasing
//
// With Options.Lease = k (buckets only), a worker that needs units takes up
// to k in one call: the extra units come with the instants GCRA gives them
// (usable now if the bucket has them, else T apart) and are spent locally,
// so k decisions cost one round trip. While one goroutine's lease call is in
// flight, the others wait for it instead of calling Redis too (for up to four
// calls in a row; then they lease beside it). With leasing, cancelling a
// reservation (a Wait whose context ends) puts its units into the local pool
// instead of sending them back to Redis.
//
// A leased unit that is not spent within Options.LeaseTTL of becoming usable
// is dropped; the TTL defaults to k*W emission intervals, W being
// Options.ExpectedWorkers. That bounds the overshoot: every unit is spent no
// later than TTL after the instant GCRA scheduled it, so in any interval the
// whole fleet spends at most TTL/T units (the rate times the TTL; k*W by
// default) more than the limit allows (burst + interval/T), however many
// workers lease. The worst case is a worker that leases k units from a full
// bucket, spends one, and spends the other k-1 just before they expire while
// the rest of the fleet takes the refilled bucket; TestLeaseOvershootWorstCase
// builds it (k=5, W=1: 14 units at an instant where the burst is 10, 4 over
// against a bound of 5). Unspent units are never given back: up to k-1 per
// worker are wasted when a worker stops needing them, and units expire
// unspent when a worker's own demand is slower than the TTL. A pause set by
// another worker reaches this one only after its leased units are spent or
// expired (at most TTL later). Rule of thumb: lease at high rates, where
// TTL*rate units of overshoot are small next to the limit, e.g. k=5 at
// 10,000/s (5 units, 0.5ms).
//
// # When Redis fails
//
// Every Redis call is bounded by Options.Timeout (default 50ms). With a
// client that has ContextTimeoutEnabled (NewClient sets it) the deadline
// reaches the socket; with any other client the call runs in a goroutine
// that the limiter stops waiting for at the timeout (Close waits for such
// stragglers). Either way a decision never spends more than the timeout on
// Redis.
//
// A failed or timed-out call engages Options.OnFailure:
//
//   - FailLocal (the default): decide with a limiter in this process at the
//     rate divided by Options.ExpectedWorkers (limit.NewBucket or
//     limit.NewWindow), so the fleet stays near the limit if the count is right;
//   - FailDeny: refuse, returning an *UnavailableError (errors.Is
//     ErrUnavailable);
//   - FailAllow: grant everything.
//
// Once a call has failed, decisions use the policy without trying Redis
// until Options.ProbeInterval (default 1s) has passed; then one call at a
// time probes Redis, and the first that succeeds releases the policy. The
// limiter logs (slog) one warning when the policy engages and one message
// when Redis answers again, and counts calls, errors, fallbacks and outages
// in Stats. A caller's own cancelled or expired context is not a Redis
// failure: its error is returned as is.
//
// # The fallback's overshoot bound
//
// Under FailLocal, with at most ExpectedWorkers processes, the fallback adds
// nothing to the limit's own contract (a bucket: burst + rate x t in any
// interval t; a window: its count per period) when it engages: it starts
// drained, holding this process's whole share plus the units Redis booked
// ahead for it as spent. When Redis answers again, the units the fallback
// granted within one burst time (bucket) or the longest window, booked-ahead
// ones included, are charged to Redis in one extra script call
// (Stats.Repaid). What remains is bounded by the rate times the spread of
// the processes' return instants, at most one probe interval, plus grants a
// failed master had not replicated. Measured across a SIGKILLed cluster
// master (50/s, burst 10, 4 clients): 0-10 units in any second beyond 60.
//
// # Cluster, Sentinel, TLS
//
// NewClient takes an explicit Config.Mode (single, cluster, sentinel; never
// inferred from the number of addresses, so one seed node is a cluster).
// No client layer retries a script: a node hook hides lost replies from
// go-redis's cluster redirect loop, which still follows MOVED and ASK (the
// node refused the script without running it). On a connection error, a
// lost reply, CLUSTERDOWN or a redirect, a cluster client reloads its slot
// map at once, and while the policy is engaged Redis is probed every
// ProbeInterval/4, so a promoted replica is used within about half a second
// (measured 0.36-0.48s after promotion). A pause stored in Redis is read
// as at most Options.MaxPause ahead (default one hour).
//
// # Limits
//
// SetRate changes the rate this process sends with each decision; every
// process sharing the name should set the same one. Priorities carried on
// the context (limit.WithPriority) order waiters of the local fallback only:
// Redis serves reservations in the order they arrive.
package redislimit
