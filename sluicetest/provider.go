package sluicetest

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// CostHeader is the request header carrying a request's cost in tokens
// (a positive integer; missing or malformed means 1). Options.TokenLimit
// is charged that cost.
const CostHeader = "X-Sluicetest-Cost"

// Options configure a Provider. The zero Options give an unlimited provider
// that answers every request 200 and reports nothing.
type Options struct {
	// Limit is the hidden request limit: each request costs 1. The zero
	// Limit is unlimited, and no dialect reports anything about it.
	Limit Limit
	// TokenLimit is a second hidden limit, charged each request's cost
	// (see CostHeader), like OpenAI's tokens per minute. A request must
	// pass both limits and is charged nothing when it fails either. Only
	// DialectOpenAI reports it. The zero Limit is unlimited.
	TokenLimit Limit
	// Dialect is how the limit is reported. The zero value is DialectNone.
	Dialect Dialect
	// ThrottleStatus is the status of a throttled response. Zero means the
	// dialect's own: 403 for GitHub, 503 for nginx, 429 for the others.
	ThrottleStatus int
	// RetryAfter adds Retry-After in whole seconds (rounded up) to throttled
	// responses in the dialects that do not always send it: GitHub, OpenAI
	// and IETF.
	RetryAfter bool
	// Resource names the limited resource: GitHub's x-ratelimit-resource
	// ("core" when empty) and the IETF policy name ("default" when empty).
	// Characters not allowed in a header value or a structured-field string
	// are dropped.
	Resource string
	// Faults are failures injected into some requests.
	Faults Faults
	// ETags gives the responses to GET and HEAD an ETag naming the
	// resource's current version (see Provider.Touch), and answers a
	// request whose If-None-Match names it with 304 Not Modified and no
	// body. Such a 304 is charged like any request, unless FreeNotModified.
	ETags bool
	// FreeNotModified makes a 304 free, as GitHub's answers to authorized
	// conditional requests are: it is neither charged nor refused by Limit
	// and TokenLimit (its headers report their state untouched), and it is
	// counted in Stats.NotModified instead of Stats.Accepted. It has no
	// effect without ETags.
	FreeNotModified bool
	// Secondary is a GitHub-style secondary limit, refusing requests that
	// come too many at once or too fast. Nil means none.
	Secondary *SecondaryLimit
	// Handler, when non-nil, writes the response to accepted requests,
	// after the dialect's headers are set. Nil means a small JSON body
	// echoing the method, the path, the request's cost and its number
	// among accepted requests: {"method":"GET","path":"/x","cost":1,"n":7}.
	Handler http.Handler
	// MaxRecords bounds the accept instants kept for MaxAccepted and the
	// request fingerprints kept for Duplicates. Zero means 100,000; when
	// the bound is reached the oldest records are forgotten.
	MaxRecords int
	// Now is the provider's clock, used by the limits and the headers. Nil
	// means the wall clock (time.Now without its monotonic reading, so that
	// epoch-aligned windows restart exactly at their boundaries). Fault
	// latency uses timers regardless.
	Now func() time.Time
}

// Stats counts what a Provider did. Every request ends in exactly one of
// Accepted, Rejected, Errors, Resets, Hangs, LostResponses, Canceled or
// (with Options.FreeNotModified) NotModified, except those still in
// flight.
type Stats struct {
	// Requests is every request that reached the provider.
	Requests int
	// Accepted is the requests the limits let through and charged for,
	// including LostResponses.
	Accepted int
	// Rejected is the requests throttled by a limit (429, or the dialect's
	// status such as GitHub's 403 or nginx's 503), including Secondary.
	// They are not charged.
	Rejected int
	// Secondary is the Rejected requests refused by Options.Secondary: those
	// that triggered it and those that came during its penalty.
	Secondary int
	// NotModified is the 304 answers to conditional requests (Options.ETags).
	// They count in Accepted too, unless Options.FreeNotModified made them
	// free.
	NotModified int
	// Replays is the accepted requests that DialectStripe answered with the
	// stored response of an earlier request with the same Idempotency-Key,
	// without performing them again. They are not Duplicates.
	Replays int
	// Errors is the injected 5xx responses (Faults.ErrorRatio).
	Errors int
	// Resets is the connections closed without a response
	// (Faults.ResetRatio).
	Resets int
	// Hangs is the requests never answered (Faults.HangRatio).
	Hangs int
	// LostResponses is the accepted requests whose response was dropped
	// (Faults.LostRatio); they are also counted in Accepted.
	LostResponses int
	// Faults is Errors + Resets + Hangs + LostResponses.
	Faults int
	// Canceled is the requests whose client went away during the injected
	// latency, before the provider decided anything.
	Canceled int
	// Duplicates is the accepted requests that repeat an earlier accepted
	// one: the same Idempotency-Key header, or, for POST and PATCH without
	// that header, the same path and the same non-empty body. The provider
	// does not deduplicate (except DialectStripe's replays, see Replays);
	// it performs the request again, and counts it here, so a test can
	// assert "no double charge" with Duplicates == 0.
	Duplicates int
	// InFlight is the requests being served now.
	InFlight int
	// MaxInFlight is the most requests ever served at once.
	MaxInFlight int
}

// Provider is a simulated rate-limited HTTP API. It is an http.Handler, to
// mount on any server, and an http.RoundTripper that serves requests in
// memory, without a network, which makes it usable inside a synctest
// bubble. NewServer wraps one in a loopback server. A Provider is safe for
// concurrent use.
type Provider struct {
	opts Options
	now  func() time.Time
	done chan struct{} // closed by Close; releases hanging requests
	once sync.Once     // guards close(done)

	mu      sync.Mutex
	epoch   time.Time         // guarded by mu; accept instants are offsets from it
	req     bucket            // guarded by mu; Options.Limit
	tok     bucket            // guarded by mu; Options.TokenLimit
	sec     secondary         // guarded by mu; Options.Secondary
	idem    idemStore         // guarded by mu; DialectStripe's stored responses
	etags   map[string]uint64 // guarded by mu; resource versions (Touch)
	rng     *rand.Rand        // guarded by mu; the fault sequence
	stats   Stats             // guarded by mu
	accepts timeRing          // guarded by mu
	fps     fingerprints      // guarded by mu
}

// wallClock is the default clock: wall time without its monotonic reading,
// so that epoch-aligned windows, their comparisons and the Date and reset
// headers all use one clock.
func wallClock() time.Time { return time.Now().Round(0) }

// NewProvider returns a provider with the given options. Out-of-range
// options are clamped as their doc comments say; nothing is an error.
func NewProvider(opts Options) *Provider {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = defaultMaxRecords
	}
	p := &Provider{opts: opts, now: opts.Now, done: make(chan struct{})}
	if p.now == nil {
		p.now = wallClock
	}
	p.reset()
	return p
}

// reset puts the provider back in its initial state; the caller holds mu or
// is the constructor.
func (p *Provider) reset() {
	inFlight := p.stats.InFlight
	p.epoch = p.now()
	p.req = newBucket(p.opts.Limit)
	p.tok = newBucket(p.opts.TokenLimit)
	p.sec = newSecondary(p.opts.Secondary)
	p.idem = newIdemStore(p.opts.MaxRecords)
	p.etags = make(map[string]uint64)
	p.rng = p.opts.Faults.newRand()
	p.stats = Stats{InFlight: inFlight, MaxInFlight: inFlight}
	p.accepts = newTimeRing(p.opts.MaxRecords)
	p.fps = newFingerprints(p.opts.MaxRecords)
}

// Reset forgets all state: the limits are full again, the statistics and
// records are cleared (except requests in flight) and the fault sequence
// restarts from its seed. Use it to run a second job against a provider.
func (p *Provider) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reset()
}

// Close releases every hanging or delayed request; they end with their
// connection closed. It is safe to call more than once. A closed provider
// still serves new requests, but no longer hangs them.
func (p *Provider) Close() {
	p.once.Do(func() { close(p.done) })
}

// Stats returns a snapshot of the counters.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// MaxAccepted returns the most requests accepted within any interval of the
// given length, [t, t+window), among the accept instants kept (see
// Options.MaxRecords). Comparing it with what the limit allows shows whether
// a client ever pushed the provider beyond its limit's shape.
func (p *Provider) MaxAccepted(window time.Duration) int {
	p.mu.Lock()
	ts := p.accepts.snapshot()
	p.mu.Unlock()
	return maxInWindow(ts, window)
}

// begin counts a new request and draws its fault and latency.
func (p *Provider) begin() (fault, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	p.stats.InFlight++
	p.stats.MaxInFlight = max(p.stats.MaxInFlight, p.stats.InFlight)
	return p.opts.Faults.draw(p.rng)
}

// finish counts a request that ends before the limits decide it: by fault
// f (faultNone if none), or canceled by its client.
func (p *Provider) finish(f fault, canceled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.InFlight--
	if canceled {
		p.stats.Canceled++
	}
	p.countFault(f)
}

// hangs counts a request that starts to hang.
func (p *Provider) hangs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.countFault(faultHang)
}

// countFault counts fault f; the caller holds mu.
func (p *Provider) countFault(f fault) {
	switch f {
	case faultNone:
		return
	case faultReset:
		p.stats.Resets++
	case faultHang:
		p.stats.Hangs++
	case faultError:
		p.stats.Errors++
	case faultLost:
		p.stats.LostResponses++
	}
	p.stats.Faults++
}

// ask is what decide needs to know about one request.
type ask struct {
	cost        int
	fp          uint64 // the request's fingerprint, if hasFP
	hasFP       bool
	lost        bool     // its response will be dropped
	notModified bool     // a conditional request naming the current ETag
	idem        *idemAsk // DialectStripe: its Idempotency-Key, if any
}

// decide advances the limits to now, charges the request if they all pass
// and records it. It returns the verdict and, for accepted requests, their
// number.
func (p *Provider) decide(now time.Time, a ask) (decision, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := decision{now: now, cost: a.cost, hasReq: !p.req.l.IsZero(), hasTok: !p.tok.l.IsZero(), notModified: a.notModified}
	p.req.advance(now)
	p.tok.advance(now)
	inFlight := p.stats.InFlight
	p.stats.InFlight--
	if wait, refused := p.sec.check(now, inFlight); refused {
		d.req, d.tok = p.req.snapshot(), p.tok.snapshot()
		d.secondary, d.wait = true, wait
		p.stats.Rejected++
		p.stats.Secondary++
		return d, 0
	}
	if a.notModified && p.opts.FreeNotModified {
		d.req, d.tok = p.req.snapshot(), p.tok.snapshot()
		d.accepted = true
		p.stats.NotModified++
		if a.lost {
			p.countFault(faultLost)
		}
		return d, 0
	}
	wr, wt, ws := p.req.wait(1), p.tok.wait(a.cost), p.sec.wait()
	if wr == 0 && wt == 0 && ws == 0 {
		p.req.take(1)
		p.tok.take(a.cost)
		p.sec.take()
		d.accepted = true
	} else if ws > 0 && wr == 0 && wt == 0 {
		d.req, d.tok = p.req.snapshot(), p.tok.snapshot()
		d.secondary, d.wait = true, p.sec.trigger(now, ws)
		p.stats.Rejected++
		p.stats.Secondary++
		return d, 0
	} else {
		d.wait, d.byTokens = max(wr, wt), wt > wr
	}
	d.req, d.tok = p.req.snapshot(), p.tok.snapshot()
	if !d.accepted {
		p.stats.Rejected++
		return d, 0
	}
	p.stats.Accepted++
	if a.notModified {
		p.stats.NotModified++
	}
	if a.lost {
		p.countFault(faultLost)
	}
	p.accepts.add(now.Sub(p.epoch))
	if a.idem != nil {
		d.idem = p.idem.begin(a.idem)
		if d.idem.kind == idemReplay {
			p.stats.Replays++
		}
		if d.idem.kind != idemFresh {
			return d, p.stats.Accepted // answered without performing it
		}
	}
	if a.hasFP && p.fps.seen(a.fp) {
		p.stats.Duplicates++
	}
	return d, p.stats.Accepted
}

// sleep waits d, or until ctx ends or the provider closes; it reports
// whether the whole delay passed.
func (p *Provider) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-p.done:
	}
	return false
}

// hang waits until ctx ends or the provider closes.
func (p *Provider) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-p.done:
	}
}
