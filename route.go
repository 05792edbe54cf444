package sluice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/circuit"
	"github.com/sluicehq/sluice/httpcache"
	"github.com/sluicehq/sluice/limit"
	"github.com/sluicehq/sluice/limit/redislimit"
	"github.com/sluicehq/sluice/quota"
	"github.com/sluicehq/sluice/retry"
)

// policy is a Policy with defaults applied, ready to use.
type policy struct {
	limits      []LimitConfig
	cost        int64
	retry       retry.Policy
	budget      retry.BudgetOptions
	circuit     CircuitConfig
	cache       CacheConfig
	concurrency int
	timeout     time.Duration
	coalesce    bool
	quota       bool // learn and pace to the provider's quota
	dialect     quota.Dialect
	credentials []string      // more credential headers for the cache and coalescing keys
	maxWait     time.Duration // ceiling on one wait for what a provider said
}

// resolve merges p over the defaults d.
func resolve(p, d Policy) Policy {
	if p.Limits == nil {
		p.Limits = d.Limits
	}
	if p.Cost == 0 {
		p.Cost = d.Cost
	}
	if p.Retry == nil {
		p.Retry = d.Retry
	}
	if p.Circuit == nil {
		p.Circuit = d.Circuit
	}
	if p.Cache == nil {
		p.Cache = d.Cache
	}
	if p.Concurrency == 0 {
		p.Concurrency = d.Concurrency
	}
	if p.Timeout == 0 {
		p.Timeout = d.Timeout
	}
	if p.Coalesce == nil {
		p.Coalesce = d.Coalesce
	}
	if p.Quota == nil {
		p.Quota = d.Quota
	}
	if p.CredentialHeaders == nil {
		p.CredentialHeaders = d.CredentialHeaders
	}
	if p.MaxWait == 0 {
		p.MaxWait = d.MaxWait
	}
	return p
}

var jitterKinds = map[string]retry.Jitter{
	"":             retry.JitterFull,
	"full":         retry.JitterFull,
	"decorrelated": retry.JitterDecorrelated,
	"equal":        retry.JitterEqual,
	"none":         retry.JitterNone,
}

// compilePolicy applies the documented defaults to a resolved Policy.
func compilePolicy(p Policy) policy {
	c := policy{limits: p.Limits, cost: max(p.Cost, 1), timeout: p.Timeout, credentials: p.CredentialHeaders}
	rc := RetryConfig{}
	if p.Retry != nil {
		rc = *p.Retry
	}
	c.retry = retry.Policy{
		MaxAttempts:        rc.MaxAttempts,
		BaseDelay:          rc.BaseDelay,
		MaxDelay:           rc.MaxDelay,
		Jitter:             jitterKinds[rc.Jitter],
		MaxRetryAfter:      rc.MaxRetryAfter,
		RetryNonIdempotent: rc.NonIdempotent,
	}.WithDefaults()
	c.maxWait = p.MaxWait
	if c.maxWait <= 0 {
		c.maxWait = c.retry.MaxRetryAfter
	}
	bc := BudgetConfig{}
	if rc.Budget != nil {
		bc = *rc.Budget
	}
	c.budget = retry.BudgetOptions{Ratio: bc.Ratio, MinPerSecond: bc.MinPerSecond, TTL: bc.TTL}
	if p.Circuit != nil {
		c.circuit = *p.Circuit
	}
	if p.Cache != nil {
		c.cache = *p.Cache
	}
	// Coalescing costs a goroutine and a buffered body per GET (see
	// docs/benchmarks.md); by default it is on where it pays most, on
	// caching routes, whose misses would otherwise stampede.
	c.coalesce = c.cache.TTL > 0
	if p.Coalesce != nil {
		c.coalesce = *p.Coalesce
	}
	if p.Concurrency > 0 {
		c.concurrency = p.Concurrency
	}
	c.quota = p.Quota == nil || !p.Quota.Disabled
	c.dialect = quota.DialectAuto
	if p.Quota != nil && p.Quota.Dialect != "" {
		c.dialect, _ = quota.ParseDialect(p.Quota.Dialect) // checked by Validate
	}
	return c
}

// route is the live state of one route: its limits, breaker, budget,
// concurrency cap, coalescing group and counters.
type route struct {
	name     string
	unrouted bool // the state of one host of the requests that match no route
	match    matcher
	pol      policy
	limits   limitPair // shared by the route's requests
	hostLim  *hostMap[limitPair]
	breaker  *circuit.Breaker // nil when disabled or per host
	hostBrk  *hostMap[*circuit.Breaker]
	budget   *retry.Budget
	sem      chan struct{} // nil when uncapped
	group    httpcache.Group
	pause    atomic.Int64 // unix ns until which the provider asked us to pause
	stats    counters
}

func newRoute(name string, m Match, pol policy, log *slog.Logger, lb *limitBuilder) (*route, error) {
	r := &route{name: name, match: compileMatch(m), pol: pol}
	var err error
	var shared, perHost []LimitConfig
	for _, l := range pol.limits {
		if l.PerHost {
			perHost = append(perHost, l)
		} else {
			shared = append(shared, l)
		}
	}
	// A pause read from Redis is bounded like the route's own pause.
	maxPause := pol.retry.MaxRetryAfter
	if r.limits, err = lb.limits(name, shared, maxPause); err != nil {
		return nil, err
	}
	if len(perHost) > 0 {
		r.hostLim = newHostMap(func(string) (limitPair, error) {
			p, err := lb.limits(name, perHost, maxPause)
			p.shared = &r.limits
			return p, err
		})
	}
	if !pol.circuit.Disabled {
		if pol.circuit.PerHost {
			r.hostBrk = newHostMap(func(host string) (*circuit.Breaker, error) {
				return circuit.New(name+"/"+host, breakerSettings(pol.circuit, log))
			})
		} else if r.breaker, err = circuit.New(name, breakerSettings(pol.circuit, log)); err != nil {
			return nil, err
		}
	}
	if r.budget, err = retry.NewBudget(pol.budget); err != nil {
		return nil, err
	}
	if pol.concurrency > 0 {
		r.sem = make(chan struct{}, pol.concurrency)
	}
	return r, nil
}

// breakerSettings turns a CircuitConfig into breaker settings whose state
// changes are logged as circuit_state events.
func breakerSettings(c CircuitConfig, log *slog.Logger) circuit.Settings {
	return circuit.Settings{
		OnStateChange: func(name string, from, to circuit.State) {
			log.Warn("circuit_state", "event", "circuit_state", "route", name,
				"from", from.String(), "to", to.String())
		},
		ConsecutiveFailures: c.ConsecutiveFailures,
		FailureRatio:        c.FailureRatio,
		MinRequests:         c.MinRequests,
		Window:              c.Window,
		OpenTimeout:         c.OpenTimeout,
		HalfOpenProbes:      c.HalfOpenProbes,
	}
}

// limitPair is the limits of a route (or of one host of it): those that
// take 1 per request and those that take the request's cost, each group
// taken all at once. shared, for a host's pair, is the route's own pair.
type limitPair struct {
	requests, cost limit.Limiter // nil when the group is empty
	shared         *limitPair
	// redis are the limits kept in Redis, to which a provider's pause is
	// passed on so that every process sharing them pauses too.
	redis []*redislimit.Limiter
}

// limitBuilder makes the limiters of routes: local ones, and those kept in
// Redis for the limits marked Shared.
type limitBuilder struct {
	redis  redis.UniversalClient // nil without a redis section
	opts   redislimit.Options
	closed []*redislimit.Limiter // every Redis limiter made, to Close
	mu     sync.Mutex            // guards closed
	// shares, when set, wraps each limit group in a limit.Fair
	// (Config.Shares).
	shares func(route, consumer string) limit.Share
}

// limits makes the limiters of one route (or one host of it). Each limit
// keeps its index in the route's list, so that its Redis key is stable.
// Redis limits honour a shared pause for at most maxPause.
func (lb *limitBuilder) limits(route string, ls []LimitConfig, maxPause time.Duration) (limitPair, error) {
	var reqs, costs []indexed
	for i, l := range ls {
		if l.Weighted {
			costs = append(costs, indexed{i, l})
		} else {
			reqs = append(reqs, indexed{i, l})
		}
	}
	var p limitPair
	var err error
	if p.requests, err = lb.limiter(route, reqs, maxPause, &p.redis); err != nil {
		return p, err
	}
	p.cost, err = lb.limiter(route, costs, maxPause, &p.redis)
	return p, err
}

type indexed struct {
	i int
	LimitConfig
}

// limiter makes one limiter that takes from every limit at once, or nil
// for none. The shared strict limits of the group become one Redis window
// limiter (one hash tag, one script call per decision, all or nothing, the
// pause read in the same call); each other shared limit is its own Redis
// limiter. The Redis limiters made are appended to remote; they honour a
// shared pause for at most maxPause.
func (lb *limitBuilder) limiter(route string, ls []indexed, maxPause time.Duration, remote *[]*redislimit.Limiter) (limit.Limiter, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	parts := make([]limit.Limiter, 0, len(ls))
	var windows []indexed
	for _, l := range ls {
		if l.Shared && l.Strict {
			windows = append(windows, l)
			continue
		}
		lim, err := lb.one(route, l, maxPause)
		if err != nil {
			return nil, fmt.Errorf("limits[%d]: %w", l.i, err)
		}
		if rl, ok := lim.(*redislimit.Limiter); ok {
			*remote = append(*remote, rl)
		}
		parts = append(parts, lim)
	}
	if len(windows) > 0 {
		rl, err := lb.windows(route, windows, maxPause)
		if err != nil {
			return nil, err
		}
		*remote = append(*remote, rl)
		parts = append(parts, rl)
	}
	var lim limit.Limiter = parts[0]
	if len(parts) > 1 {
		m, err := limit.NewMulti(parts...)
		if err != nil {
			return nil, err
		}
		lim = m
	}
	if lb.shares == nil {
		return lim, nil
	}
	return lb.fair(route, ls, lim, maxPause)
}

// windows makes the one Redis limiter of a group's shared strict limits,
// named after the first one's index (a single window keeps the key it
// always had). Two windows of one period keep the smaller count.
func (lb *limitBuilder) windows(route string, ls []indexed, maxPause time.Duration) (*redislimit.Limiter, error) {
	if lb.redis == nil {
		return nil, fmt.Errorf("limits[%d]: a shared limit needs a redis section", ls[0].i)
	}
	var rates []limit.Rate
	byPeriod := map[time.Duration]int{}
	for _, l := range ls {
		r, err := limit.ParseRate(l.Rate)
		if err != nil {
			return nil, fmt.Errorf("limits[%d]: %w", l.i, err)
		}
		r.Burst = 0
		if j, ok := byPeriod[r.Period]; ok {
			rates[j].Count = min(rates[j].Count, r.Count)
			continue
		}
		byPeriod[r.Period] = len(rates)
		rates = append(rates, r)
	}
	name := fmt.Sprintf("route/%s/%d", route, ls[0].i)
	opts := lb.opts
	opts.MaxPause = maxPause
	rl, err := redislimit.NewWindow(lb.redis, name, rates, opts)
	if err != nil {
		return nil, fmt.Errorf("limits[%d]: %w", ls[0].i, err)
	}
	lb.mu.Lock()
	lb.closed = append(lb.closed, rl)
	lb.mu.Unlock()
	return rl, nil
}

func (lb *limitBuilder) one(route string, l indexed, maxPause time.Duration) (limit.Limiter, error) {
	r, err := rateOf(l.LimitConfig)
	if err != nil {
		return nil, err
	}
	if !l.Strict {
		r = withMargin(r)
	}
	if !l.Shared {
		if l.Strict {
			return limit.NewWindow(r)
		}
		return limit.NewBucket(r)
	}
	if lb.redis == nil {
		return nil, errors.New("a shared limit needs a redis section")
	}
	name := fmt.Sprintf("route/%s/%d", route, l.i)
	opts := lb.opts
	opts.MaxPause = maxPause
	rl, err := redislimit.NewBucket(lb.redis, name, r, opts)
	if err != nil {
		return nil, err
	}
	lb.mu.Lock()
	lb.closed = append(lb.closed, rl)
	lb.mu.Unlock()
	return rl, nil
}

// close waits for the Redis calls of every Redis limiter made that outlived
// their timeout (only clients without context timeouts have such calls, run
// in a goroutine), for at most closeWait in all: a caller-supplied client
// with no timeouts of its own may hold a call for seconds.
func (lb *limitBuilder) close() {
	lb.mu.Lock()
	ls := lb.closed
	lb.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lb.closeWait())
	defer cancel()
	for _, l := range ls {
		if l.CloseContext(ctx) != nil {
			return
		}
	}
}

// closeWait is how long Close waits for Redis calls: twice the call
// timeout, at least 100ms.
func (lb *limitBuilder) closeWait() time.Duration {
	t := lb.opts.Timeout
	if t <= 0 {
		t = redislimit.DefaultTimeout
	}
	return max(2*t, 100*time.Millisecond)
}

// limitsFor returns the limits for a request to host.
func (r *route) limitsFor(host string) (*limitPair, error) {
	if r.hostLim != nil {
		p, err := r.hostLim.get(host)
		return &p, err
	}
	return &r.limits, nil
}

// breakerFor returns the breaker for a request to host, or nil.
func (r *route) breakerFor(host string) (*circuit.Breaker, error) {
	if r.hostBrk != nil {
		return r.hostBrk.get(host)
	}
	return r.breaker, nil
}

// pauseUntil makes every request of the route wait until t (never shortens
// a pause). It reports whether the pause was extended.
func (r *route) pauseUntil(t time.Time) bool {
	ns := t.UnixNano()
	for {
		cur := r.pause.Load()
		if cur >= ns {
			return false
		}
		if r.pause.CompareAndSwap(cur, ns) {
			return true
		}
	}
}

// pauseLeft returns how long the route is still paused at now, with a
// little jitter so that the waiters do not all resume at the same instant.
func (r *route) pauseLeft(now time.Time) time.Duration {
	until := r.pause.Load()
	if until == 0 {
		return 0
	}
	left := time.Duration(until - now.UnixNano())
	if left <= 0 {
		return 0
	}
	// Spread resumption over up to 10% of the pause (at most 250ms).
	spread := min(left/10, 250*time.Millisecond)
	if spread > 0 {
		left += rand.N(spread)
	}
	return left
}

// maxHosts bounds the per-host state a route keeps.
const maxHosts = 1024

// hostMap holds one value per host, created on first use, bounded by
// maxHosts (beyond it an arbitrary host's value is dropped).
type hostMap[T any] struct {
	mu    sync.Mutex
	m     map[string]T // guarded by mu
	build func(host string) (T, error)
}

func newHostMap[T any](build func(string) (T, error)) *hostMap[T] {
	return &hostMap[T]{m: map[string]T{}, build: build}
}

func (h *hostMap[T]) get(host string) (T, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v, ok := h.m[host]; ok {
		return v, nil
	}
	v, err := h.build(host)
	if err != nil {
		return v, err
	}
	if len(h.m) >= maxHosts {
		for k := range h.m {
			delete(h.m, k)
			break
		}
	}
	h.m[host] = v
	return v, nil
}
