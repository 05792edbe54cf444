package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/limit"
)

// Defaults for the zero fields of Options.
const (
	DefaultPrefix        = "sluice"
	DefaultTimeout       = 50 * time.Millisecond
	DefaultProbeInterval = time.Second
	// DefaultMaxPause bounds a pause: one set by PauseUntil, and one read
	// from Redis (written by any process, or by anyone with access).
	DefaultMaxPause = time.Hour
)

// Options configure a Limiter. The zero Options are valid: prefix "sluice",
// a 50 ms timeout, the local failure policy for one worker, no leasing.
type Options struct {
	// Prefix starts every key, inside the hash tag: {prefix:name}:tat.
	// Empty means "sluice". It must not contain '{' or '}'.
	Prefix string
	// Timeout bounds each Redis call; a call that takes longer counts as
	// a failure and the decision is made by OnFailure. Zero means 50 ms.
	Timeout time.Duration
	// OnFailure is what decisions do while Redis fails or times out. The
	// zero value is FailLocal.
	OnFailure FailurePolicy
	// ExpectedWorkers is the number of processes expected to share the
	// limit. Under FailLocal each falls back to the rate divided by it.
	// Zero means 1.
	ExpectedWorkers int
	// Lease is the number of units a worker takes per round trip and then
	// spends locally (buckets only). 0 or 1 means no leasing: one round trip
	// per decision. See the package documentation for the overshoot it
	// allows.
	Lease int64
	// LeaseTTL is how long a leased unit stays spendable after the instant
	// Redis made it usable; then it is dropped. It bounds the overshoot
	// leasing allows to LeaseTTL/interval units (the rate times LeaseTTL)
	// across all workers. Zero means Lease x ExpectedWorkers intervals, an
	// overshoot of at most Lease x ExpectedWorkers units.
	LeaseTTL time.Duration
	// ProbeInterval is how long, once a call failed, decisions use the
	// failure policy without trying Redis; then one call probes it again.
	// Zero means one second.
	ProbeInterval time.Duration
	// MaxPause bounds the shared pause: PauseUntil sets at most this long
	// a pause, and a pause stored in Redis further ahead is read as ending
	// this far ahead. Zero means DefaultMaxPause (one hour). A caller that
	// bounds its pauses (sluice's max_retry_after) may pass its bound.
	MaxPause time.Duration
	// Fallback is the limiter used under FailLocal. Nil means one built for
	// the limiter's rates divided by ExpectedWorkers (limit.NewBucket or
	// limit.NewWindow). PauseUntil and SetRate are passed on to it.
	Fallback limit.Limiter
	// Logger receives one warning when the failure policy engages and one
	// message when Redis answers again. Nil means slog.Default().
	Logger *slog.Logger
}

// kind is the algorithm a Limiter runs.
type kind uint8

const (
	kindBucket kind = iota
	kindWindow
)

// Limiter is a rate limiter whose state lives in Redis, shared by every
// process that builds one with the same client, prefix and name. It
// implements limit.Limiter. Build one with NewBucket or NewWindow.
type Limiter struct {
	client   redis.UniversalClient
	name     string
	kind     kind
	keys     []string // bucket: tat, pause; window: log, meta, pause
	pauseKey []string
	opts     Options
	maxPause string // opts.MaxPause in microseconds, a script argument
	guard    bool   // the client ignores context deadlines: run calls in a goroutine
	log      *slog.Logger
	fallback limit.Limiter
	// fallbackParts are the fallback's bucket or windows, in the order of
	// the rates, when the limiter built it (nil for Options.Fallback).
	fallbackParts []limit.Limiter
	clock         func() time.Time // time.Now; tests replace it

	cfg atomic.Pointer[rateCfg] // swapped whole by SetRate, under mu

	mu     sync.Mutex
	pool   pool          // guarded by mu
	flight chan struct{} // guarded by mu; closed when the lease call in flight ends

	pausedUntil atomic.Int64           // unix ns (local clock) of the latest pause set here
	denied      atomic.Pointer[denial] // the last Allow Redis refused, while it holds

	handover  handover // fallback grants, charged to Redis on return
	booked    handover // Redis grants booked ahead, held locally on engage
	health    health
	stats     counters
	movedHint atomic.Bool    // the MOVED hint was logged
	wg        sync.WaitGroup // guarded calls still running
}

// NewBucket returns a GCRA token bucket at rate r shared through Redis under
// name: r.Count units per r.Period, r.BurstOrCount() at once. limit.Inf
// imposes no limit but still honours pauses.
func NewBucket(client redis.UniversalClient, name string, r limit.Rate, opts Options) (*Limiter, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("redislimit: bucket %q: %w", name, err)
	}
	l, err := newLimiter(client, name, kindBucket, []limit.Rate{r}, opts)
	if err != nil {
		return nil, err
	}
	base := "{" + l.opts.Prefix + ":" + name + "}:"
	l.keys = []string{base + "tat", base + "pause"}
	l.pauseKey = l.keys[1:]
	return l, nil
}

// NewWindow returns strict sliding windows shared through Redis under name:
// for each rate, at most r.Count units in any interval of length r.Period.
// A grant must fit every window; it is taken from all or from none, in one
// script call. Bursts other than the count are rejected, since a window's
// capacity is its count. Leasing is not supported.
func NewWindow(client redis.UniversalClient, name string, rates []limit.Rate, opts Options) (*Limiter, error) {
	if len(rates) == 0 {
		return nil, fmt.Errorf("redislimit: window %q: no rates", name)
	}
	seen := make(map[time.Duration]bool, len(rates))
	for _, r := range rates {
		if err := validWindow(r); err != nil {
			return nil, fmt.Errorf("redislimit: window %q: %w", name, err)
		}
		if seen[r.Period] {
			return nil, fmt.Errorf("redislimit: window %q: two rates with period %v", name, r.Period)
		}
		seen[r.Period] = true
	}
	if opts.Lease > 1 {
		return nil, fmt.Errorf("redislimit: window %q: lease %d: leasing is supported by buckets only", name, opts.Lease)
	}
	l, err := newLimiter(client, name, kindWindow, rates, opts)
	if err != nil {
		return nil, err
	}
	base := "{" + l.opts.Prefix + ":" + name + "}:"
	l.keys = []string{base + "log", base + "meta", base + "pause"}
	l.pauseKey = l.keys[2:]
	return l, nil
}

func validWindow(r limit.Rate) error {
	if err := r.Validate(); err != nil {
		return err
	}
	switch {
	case r.IsInf():
		return errors.New("an infinite rate is not a window")
	case r.Burst != 0 && r.Burst != r.Count:
		return fmt.Errorf("rate %v: a window's burst is its count", r)
	case r.Period < time.Millisecond || r.Period%time.Microsecond != 0:
		return fmt.Errorf("rate %v: window period must be at least 1ms in whole microseconds", r)
	}
	return nil
}

func newLimiter(client redis.UniversalClient, name string, k kind, rates []limit.Rate, opts Options) (*Limiter, error) {
	if client == nil {
		return nil, errors.New("redislimit: nil client")
	}
	if name == "" || strings.ContainsAny(name, "{}") {
		return nil, fmt.Errorf("redislimit: name %q must be non-empty without '{' or '}'", name)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redislimit: prefix %q must not contain '{' or '}'", opts.Prefix)
	}
	switch {
	case opts.Timeout < 0:
		return nil, fmt.Errorf("redislimit: timeout %v must not be negative", opts.Timeout)
	case opts.Timeout == 0:
		opts.Timeout = DefaultTimeout
	}
	switch {
	case opts.ProbeInterval < 0:
		return nil, fmt.Errorf("redislimit: probe interval %v must not be negative", opts.ProbeInterval)
	case opts.ProbeInterval == 0:
		opts.ProbeInterval = DefaultProbeInterval
	}
	switch {
	case opts.ExpectedWorkers < 0:
		return nil, fmt.Errorf("redislimit: expected workers %d must not be negative", opts.ExpectedWorkers)
	case opts.ExpectedWorkers == 0:
		opts.ExpectedWorkers = 1
	}
	switch {
	case opts.MaxPause < 0:
		return nil, fmt.Errorf("redislimit: max pause %v must not be negative", opts.MaxPause)
	case opts.MaxPause == 0:
		opts.MaxPause = DefaultMaxPause
	}
	if opts.Lease < 0 {
		return nil, fmt.Errorf("redislimit: lease %d must not be negative", opts.Lease)
	}
	if opts.LeaseTTL < 0 {
		return nil, fmt.Errorf("redislimit: lease TTL %v must not be negative", opts.LeaseTTL)
	}
	if _, err := opts.OnFailure.MarshalText(); err != nil {
		return nil, err
	}
	l := &Limiter{
		client: client,
		name:   name,
		kind:   k,
		opts:   opts,
		guard:  !honoursContext(client),
		log:    opts.Logger,
		clock:  time.Now,
	}
	l.maxPause = micros(opts.MaxPause)
	l.handover.horizon = horizonOf(k, rates)
	l.cfg.Store(newRateCfg(k, rates))
	if l.log == nil {
		l.log = slog.Default()
	}
	l.fallback = opts.Fallback
	if l.fallback == nil && opts.OnFailure == FailLocal {
		f, parts, err := newFallback(k, rates, opts.ExpectedWorkers)
		if err != nil {
			return nil, fmt.Errorf("redislimit: %q: fallback: %w", name, err)
		}
		l.fallback, l.fallbackParts = f, parts
	}
	return l, nil
}

// honoursContext reports whether client bounds its socket I/O by the
// context deadline (ContextTimeoutEnabled). Other clients get each call run
// in a goroutine so that the limiter can stop waiting at the timeout.
func honoursContext(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

func (l *Limiter) now() time.Time { return l.clock() }

// Name returns the limiter's name.
func (l *Limiter) Name() string { return l.name }

// Keys returns the Redis keys the limiter uses. All carry the same hash
// tag, so they live in one cluster slot.
func (l *Limiter) Keys() []string { return append([]string(nil), l.keys...) }

// Rates returns the limiter's current rates.
func (l *Limiter) Rates() []limit.Rate {
	return append([]limit.Rate(nil), l.cfg.Load().rates...)
}

// Close waits for Redis calls that outlived their timeout to end (only for
// clients without ContextTimeoutEnabled, whose calls run in a goroutine).
// It does not close the client, and the limiter stays usable.
func (l *Limiter) Close() error {
	l.wg.Wait()
	return nil
}

// CloseContext is Close bounded by ctx: when ctx ends first it returns
// ctx.Err(), leaving the calls still running to the client (they end when
// it answers, times out or is closed; so does the one goroutine CloseContext
// starts to watch them).
func (l *Limiter) CloseContext(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// denial remembers that Redis refused even one unit until until (local
// clock), so Allow can refuse again without a round trip until then.
type denial struct {
	until, reset time.Time
}

// rateCfg is an immutable snapshot of a limiter's rates and of the script
// arguments they give, read without a lock on every decision.
type rateCfg struct {
	rates    []limit.Rate
	maxCost  int64         // the most units one decision may ask for
	interval time.Duration // bucket: the emission interval (0 for Inf)
	args     []any         // bucket: T, burst; window: W, N for each rate
}

func newRateCfg(k kind, rates []limit.Rate) *rateCfg {
	c := &rateCfg{rates: append([]limit.Rate(nil), rates...), maxCost: math.MaxInt64}
	for _, r := range rates {
		if !r.IsInf() {
			c.maxCost = min(c.maxCost, r.BurstOrCount())
		}
	}
	if k == kindBucket {
		r := rates[0]
		if r.IsInf() {
			c.args = []any{"0", "0"}
		} else {
			c.interval = r.Interval()
			c.args = []any{intervalMicros(r.Count, r.Period), r.BurstOrCount()}
		}
		return c
	}
	for _, r := range rates {
		c.args = append(c.args, r.Period.Microseconds(), r.Count)
	}
	return c
}

// divide returns r shared among w workers: the same count over a period w
// times longer, and the burst divided (at least 1).
func divide(r limit.Rate, w int) limit.Rate {
	if w <= 1 || r.IsInf() {
		return r
	}
	b := max(r.BurstOrCount()/int64(w), 1)
	return limit.Rate{Count: r.Count, Period: r.Period * time.Duration(w), Burst: b}
}

// divideWindow returns window r shared among w workers: count / w (at least
// 1) in the same period.
func divideWindow(r limit.Rate, w int) limit.Rate {
	if w <= 1 {
		return r
	}
	return limit.Rate{Count: max(r.Count/int64(w), 1), Period: r.Period}
}
