package quota

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// Cost is what one request draws from a host's buckets.
type Cost struct {
	// Requests is the number of requests (0 means 1).
	Requests int64
	// Tokens is the number of LLM tokens the request is expected to use
	// (prompt plus the expected completion), drawn from token buckets
	// (OpenAI tokens, Anthropic tokens and input-tokens); 0 draws none.
	// The next response corrects the estimate.
	Tokens int64
	// Route optionally names the kind of request ("GET /search" ...; see
	// RouteOf). A bucket learned from responses to some routes applies only
	// to requests on those routes once it has been seen on any, until it has
	// been seen on more than 32 routes; an empty Route is subject to every
	// bucket of the host. Leave it empty unless a host has per-route limits
	// (GitHub search, Discord, X).
	Route string
	// Dialect, when set, reads this request's response in that dialect
	// instead of TrackerOptions.Dialect (a route's configured dialect).
	Dialect Dialect
	// Paced reports that the caller already paces this request to a
	// configured rate: a bare throttle of its response does not start (or
	// lower) the host's rate discovery, and the adaptive limiter does not
	// hold it. One throttle from arrival jitter would otherwise switch
	// discovery on and undercut the configured rate.
	Paced bool
	// Since is when the request first asked for quota (its first
	// attempt); waiters of one priority are granted in order of it, so
	// that a retried request takes its place in the queue again instead
	// of joining the back. Zero (or a time to come) means now.
	Since time.Time
	// MaxWait is the longest this request may wait in Acquire; a longer
	// wait fails at once with a *WaitError whose Ceiling is MaxWait. Zero
	// means no ceiling but the context's deadline.
	MaxWait time.Duration
	// MaxPause caps every wait its response states (Retry-After, a reset)
	// when it pauses the host or a bucket; zero means MaxWait (the
	// package's 24-hour clamp) alone.
	MaxPause time.Duration
	// Revalidation marks a conditional request revalidating a cached
	// response (If-None-Match, If-Modified-Since). When the host's quota is
	// read in a dialect whose 304 Not Modified is not charged (GitHub: a
	// conditional request answered 304 does not count against the primary
	// rate limit), it draws nothing from the host's request buckets and
	// waits only while one is paused or exhausted, not behind their pace;
	// a full answer's headers then report the charge.
	Revalidation bool

	free bool // Revalidation in a dialect that does not charge a 304
}

// freeNotModified reports whether providers read in d do not charge a 304
// answer to a conditional request.
func freeNotModified(d Dialect) bool { return d == DialectGitHub }

// TrackerOptions configures a Tracker. The zero value is ready to use.
type TrackerOptions struct {
	// Dialect is the header dialect of the hosts tracked; zero (or
	// DialectAuto) detects it per response.
	Dialect Dialect
	// Now returns the current time; nil means time.Now. Waits use real
	// timers (fake ones inside a testing/synctest bubble), so a Now that
	// does not advance with them would make a waiting Acquire wait until its
	// context ends; inject one only to read state (Stats, WaitError).
	Now func() time.Time
	// Logger receives the events bucket_learned, bucket_paused,
	// bucket_resumed, quota_wait (a request about to wait LongWait or
	// more) (Info), bucket_paced and adaptive_rate (Debug); nil logs
	// nothing.
	Logger *slog.Logger
	// MaxBuckets bounds the buckets kept over all hosts; the least recently
	// used is forgotten when a new one would exceed it. Zero means 1024.
	MaxBuckets int
	// BurstFraction is the share of a fixed window's quota (its limit, or
	// what remains when the limit is unknown) that may be sent back to back
	// before the rest is spread evenly until the reset. Zero spreads evenly
	// from the first request; 1 sends everything at once and then pauses
	// until the reset. Must be in [0, 1].
	BurstFraction float64
	// Adaptive configures the rate discovery used for hosts that throttle
	// without quota headers.
	Adaptive AdaptiveOptions
}

const (
	defaultMaxBuckets = 1024
	maxRoutes         = 32
)

// Tracker holds what providers said about their quotas, per host and bucket,
// and paces requests to stay within them. It is safe for concurrent use.
//
// The Transport calls Acquire before each send and the returned done after
// each response (or error):
//
//	done, err := tracker.Acquire(ctx, req.URL.Host, quota.Cost{Requests: 1})
//	if err != nil { return nil, err }
//	resp, err := next.RoundTrip(req)
//	done(resp, err)
type Tracker struct {
	opts TrackerOptions
	now  func() time.Time
	log  *slog.Logger

	mu       sync.Mutex
	hosts    map[string]*hostState // guarded by mu
	nbuckets int                   // guarded by mu
}

// hostState is the Tracker's state for one host. All fields are guarded by
// Tracker.mu.
type hostState struct {
	name     string
	buckets  map[string]*bucket
	paused   time.Time // the host's own pause (Global, secondary limits)
	adaptive *cubic    // created at the first response; enabled at the first bare throttle
	dialect  Dialect   // the dialect the host's last quota headers were read in

	lastUsed   time.Time
	firstGrant time.Time // when the first request was let go
	answered   bool      // a first request has been answered (or failed)

	queue    []*waiter   // requests waiting, in the order they are granted (queue.go)
	timer    *time.Timer // dispatches the queue at timerAt; nil when none is armed
	timerAt  time.Time
	released []*waiter // granted or refused by dispatch, to wake after the lock

	pauseLogged bool
	events      []event // built under the lock, logged after it
}

// firstContact is how long requests to a host never answered yet wait for
// the first request's response, which may say how much quota there is.
const firstContact = time.Second

// LongWait is the wait from which Acquire logs quota_wait at Info before
// waiting.
const LongWait = 2 * time.Second

// whoFirst names the first-contact wait.
const whoFirst = "first-contact"

// NewTracker returns a Tracker, or an error naming the bad option.
func NewTracker(o TrackerOptions) (*Tracker, error) {
	d, err := ParseDialect(string(o.Dialect))
	if err != nil {
		return nil, err
	}
	o.Dialect = d
	switch {
	case o.MaxBuckets < 0:
		return nil, fmt.Errorf("quota: MaxBuckets %d is negative", o.MaxBuckets)
	case !(o.BurstFraction >= 0 && o.BurstFraction <= 1):
		return nil, fmt.Errorf("quota: BurstFraction %v is not in [0, 1]", o.BurstFraction)
	}
	if o.MaxBuckets == 0 {
		o.MaxBuckets = defaultMaxBuckets
	}
	if err := o.Adaptive.validate(); err != nil {
		return nil, err
	}
	t := &Tracker{opts: o, now: o.Now, log: o.Logger, hosts: make(map[string]*hostState)}
	if t.now == nil {
		t.now = time.Now
	}
	return t, nil
}

// ErrWouldExceedDeadline is limit.ErrWouldExceedDeadline: a *WaitError
// matches it with errors.Is.
var ErrWouldExceedDeadline = limit.ErrWouldExceedDeadline

// WaitError reports that the quota would let a request go only after the
// context's deadline; Acquire returns it at once without waiting. It
// matches ErrWouldExceedDeadline (limit.ErrWouldExceedDeadline).
type WaitError struct {
	// Host and Bucket name what the request would wait for; Bucket is
	// "host" for a host-wide pause and "adaptive" for the adaptive limiter.
	Host, Bucket string
	// Wait is how long the request would have had to wait.
	Wait time.Duration
	// Deadline is the context deadline that made the wait impossible; zero
	// when Ceiling did.
	Deadline time.Time
	// Ceiling, when non-zero, is the Cost.MaxWait the wait exceeds.
	Ceiling time.Duration
}

// Error implements error.
func (e *WaitError) Error() string {
	if e.Ceiling > 0 {
		return fmt.Sprintf("quota: %s %s needs a wait of %v, longer than the %v ceiling (max_wait)",
			e.Host, e.Bucket, e.Wait.Round(time.Millisecond), e.Ceiling)
	}
	return fmt.Sprintf("quota: %s %s needs a wait of %v, past the context deadline",
		e.Host, e.Bucket, e.Wait.Round(time.Millisecond))
}

// Is reports whether target is ErrWouldExceedDeadline.
func (e *WaitError) Is(target error) bool { return target == limit.ErrWouldExceedDeadline }

// ticket is what a granted request drew, for its done.
type ticket struct {
	t       *Tracker
	host    string
	route   string
	dialect Dialect
	paced   bool
	pause   time.Duration // Cost.MaxPause
	at      time.Time
	draws   []draw
	once    sync.Once
	buf     [2]draw // draws' backing array for the common one or two buckets
}

// finish is the done Acquire returns: it observes the outcome once.
func (tk *ticket) finish(resp *http.Response, err error) {
	tk.once.Do(func() { tk.t.done(tk, resp, err) })
}

// draw is one bucket's share of a grant.
type draw struct {
	b     *bucket
	units float64
	mark  float64 // b.spent right after this grant
}

// Acquire waits until host's quota lets a request of the given cost go,
// and returns done, which the caller must call with the response (or the
// error) of the request, before closing the response body; later calls do
// nothing; done(nil, nil) means the request was not sent. done reads at
// most MaxPeek bytes of a throttle's body and puts them back (see Parse).
// Each attempt of a retried request is acquired on its own. Acquire returns at once a
// *WaitError when the wait would end after ctx's deadline, and ctx.Err()
// when ctx ends while it waits. Nothing is drawn unless err is nil.
func (t *Tracker) Acquire(ctx context.Context, host string, cost Cost) (done func(*http.Response, error), err error) {
	if cost.Requests <= 0 {
		cost.Requests = 1
	}
	if cost.Dialect != "" {
		d, err := ParseDialect(string(cost.Dialect))
		if err != nil {
			return nil, err
		}
		cost.Dialect = d
	}
	cost.Tokens = max(cost.Tokens, 0)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A request whose deadline is near does not wait for the first
	// contact: it could not afford it.
	dl, hasDL := ctx.Deadline()
	hold := !hasDL || time.Until(dl) > firstContact
	t.mu.Lock()
	now := t.now()
	h := t.host(host, now)
	c := h.costNow(cost)
	at, who := h.earliest(now, c, t.opts.BurstFraction, hold)
	if !at.After(now) && len(h.queue) == 0 {
		tk := h.grant(now, c)
		tk.t = t
		ev := h.drainEvents()
		t.mu.Unlock()
		t.emit(ev, cost.Route)
		return tk.finish, nil
	}
	w := &waiter{h: h, cost: cost, prio: limit.PriorityFrom(ctx), since: now, hold: hold, ready: make(chan struct{})}
	if !cost.Since.IsZero() && cost.Since.Before(now) {
		w.since = cost.Since
	}
	if hasDL {
		w.deadline = dl
	}
	tk, err := t.wait(ctx, h, w, now, at, who)
	if err != nil {
		return nil, err
	}
	return tk.finish, nil
}

// host returns the state of host, used at now, creating it (and
// forgetting the least recently used host if there are MaxBuckets
// already). Requires t.mu held.
func (t *Tracker) host(name string, now time.Time) *hostState {
	h := t.hosts[name]
	if h == nil {
		if len(t.hosts) >= t.opts.MaxBuckets {
			var oldest *hostState
			for _, o := range t.hosts {
				if len(o.queue) > 0 {
					continue // its waiters hold it
				}
				if oldest == nil || o.lastUsed.Before(oldest.lastUsed) {
					oldest = o
				}
			}
			if oldest != nil {
				t.nbuckets -= len(oldest.buckets)
				delete(t.hosts, oldest.name)
			}
		}
		h = &hostState{name: name, buckets: make(map[string]*bucket)}
		t.hosts[name] = h
	}
	h.lastUsed = now
	return h
}

// done observes a request's outcome.
func (t *Tracker) done(tk *ticket, resp *http.Response, err error) {
	var sig Signal
	if resp != nil {
		d := t.opts.Dialect
		if tk.dialect != "" {
			d = tk.dialect
		}
		sig = Parse(resp, t.now(), d)
	}
	t.mu.Lock()
	now := t.now()
	h := t.host(tk.host, now)
	for _, d := range tk.draws {
		if d.b.unit == ConcurrentRequests {
			d.b.inflight -= d.units
		}
		d.b.answered(d.mark)
		if resp == nil && err == nil {
			d.b.seen(d.mark) // not sent: a fixed window never counted it
		}
	}
	first := !h.answered && (resp != nil || err != nil)
	if first {
		h.answered = true
	}
	if resp != nil {
		if len(sig.Observations) > 0 {
			h.dialect = sig.Dialect
		}
		t.observe(h, tk, sig, now)
	}
	if a := h.adaptive; a != nil && resp != nil {
		switch {
		case first && len(sig.Observations) == 0 && !sig.Throttled && !tk.paced && h.crowd():
			a.ramp(now) // the first answer said nothing of the quota, and a crowd waits
		case len(sig.Observations) > 0:
			a.stopRamp() // the buckets pace
		}
	}
	if len(h.queue) > 0 {
		t.dispatch(h, now) // what it said may let waiters go
	}
	ev, ws := h.drainEvents(), h.drainReleased()
	t.mu.Unlock()
	t.releaseAll(ev, ws, tk.route)
}

// observe applies a response's Signal. Requires t.mu held.
func (t *Tracker) observe(h *hostState, tk *ticket, sig Signal, now time.Time) {
	exhausted := false
	for _, o := range sig.Observations {
		b := h.buckets[o.Bucket]
		if b == nil {
			b = t.newBucket(h, o, now)
		}
		mark := b.spent // learned after the grant: assume it reflects all so far
		for _, d := range tk.draws {
			if d.b == b {
				mark = d.mark
			}
		}
		b.apply(o, mark, tk.at, now, tk.route)
		if sig.Throttled && o.Exhausted() {
			exhausted = true
			b.throttles++
			b.pauseFor(sig, o, now, tk.pause)
		}
	}
	if h.adaptive == nil && !t.opts.Adaptive.Disabled {
		h.adaptive = newCubic(t.opts.Adaptive, now)
	}
	if a := h.adaptive; a != nil {
		bare := sig.Throttled && len(sig.Observations) == 0 && !sig.DoNotRetry && !tk.paced
		if before, after, changed := a.update(now, tk.at, bare); changed {
			h.events = append(h.events, event{msg: "adaptive_rate", level: slog.LevelDebug, host: h.name, bucket: "adaptive",
				attrs: []any{"from", round3(before), "to", round3(after), "throttled", bare}})
		}
		if bare {
			a.throttles++
		}
	}
	if sig.Throttled && !exhausted {
		if w, ok := sig.Wait(now); ok && (sig.Global || w > roundingSlack) {
			if tk.pause > 0 {
				w = min(w, tk.pause)
			}
			if until := now.Add(w); until.After(h.paused) {
				h.paused = until
				h.pauseLogged = true
				h.events = append(h.events, event{msg: "bucket_paused", level: slog.LevelInfo, host: h.name, bucket: "host",
					attrs: []any{"until", until, "wait", w, "global", sig.Global}})
			}
		}
	}
}

// roundingSlack is the rounding of whole-second Retry-After and reset
// values: a bare throttle saying "Retry-After: 1" may mean 20 ms. Such
// short waits pause only the retried request (the caller's retry policy),
// not the whole host; the adaptive rate or the bucket's rate paces the rest.
const roundingSlack = time.Second

// newBucket creates a bucket, evicting the least recently used one if the
// Tracker is full. Requires t.mu held.
func (t *Tracker) newBucket(h *hostState, o Observation, now time.Time) *bucket {
	if t.nbuckets >= t.opts.MaxBuckets {
		t.evict()
	}
	b := &bucket{host: h.name, name: o.Bucket, unit: o.Unit, limit: Unknown, remaining: Unknown, lastUsed: now}
	h.buckets[o.Bucket] = b
	t.nbuckets++
	h.events = append(h.events, event{msg: "bucket_learned", level: slog.LevelInfo, host: h.name, bucket: o.Bucket,
		attrs: []any{"unit", string(o.Unit), "limit", o.Limit, "remaining", o.Remaining, "window", o.Window}})
	return b
}

// evict forgets the least recently used bucket. Requires t.mu held.
func (t *Tracker) evict() {
	var oldest *bucket
	for _, h := range t.hosts {
		for _, b := range h.buckets {
			if oldest == nil || b.lastUsed.Before(oldest.lastUsed) {
				oldest = b
			}
		}
	}
	if oldest != nil {
		delete(t.hosts[oldest.host].buckets, oldest.name)
		t.nbuckets--
	}
}

// emit logs events for a request of route (Cost.Route); it is called
// without t.mu held. Each record carries "event" (its message), "route",
// "host" and "bucket", like the Transport's own events; a request of no
// route is logged as route "default:<host>", the Transport's name for it.
func (t *Tracker) emit(evs []event, route string) {
	if t.log == nil {
		return
	}
	for _, e := range evs {
		r := route
		if r == "" {
			r = "default:" + e.host
		}
		attrs := append([]any{"event", e.msg, "route", r, "host", e.host, "bucket", e.bucket}, e.attrs...)
		t.log.Log(context.Background(), e.level, e.msg, attrs...)
	}
}

// event is a log record built under the lock and logged after it.
type event struct {
	msg          string
	level        slog.Level
	host, bucket string
	attrs        []any
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
