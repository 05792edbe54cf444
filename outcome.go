package sluice

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/httpcache"
)

// Headers the Transport sets on the responses it returns, so that a caller
// behind an SDK (which sees only the *http.Response) can learn what sluice
// did. A header is left out when it would say the obvious: one attempt, no
// wait, no give-up. [OutcomeOf] reads them.
const (
	// AttemptsHeader is the number of attempts sent upstream for the
	// response, when more than one.
	AttemptsHeader = "X-Sluice-Attempts"
	// WaitedHeader is the time, in milliseconds, the request spent waiting
	// for limits, provider pauses and retry backoff, when 1 ms or more.
	WaitedHeader = "X-Sluice-Waited-Ms"
	// GaveUpHeader says why sluice stopped retrying a failed response
	// (see [Outcome.GaveUp]); absent when it did not give up.
	GaveUpHeader = "X-Sluice-Gave-Up"
	// FromCacheHeader is "1" on a response served from sluice's cache, the
	// marker gregjones/httpcache sets and go-github reads to leave its rate
	// view alone. httpcache.CacheHeader (X-Sluice-Cache) says "hit" or
	// "stale" beside it.
	FromCacheHeader = httpcache.FromCacheHeader
)

// Outcome is what the Transport did for one request: how many attempts it
// sent, how long it waited, and why it stopped retrying, if it did.
type Outcome struct {
	// Attempts is the number of attempts sent upstream; 0 for a response
	// from the cache or a request refused before it was sent.
	Attempts int
	// Waited is the time spent waiting for the route's limits, the
	// provider's pauses and quota, the concurrency cap and retry backoff.
	Waited time.Duration
	// GaveUp is why no further attempt was made after a failed attempt:
	// "max attempts", "retry budget", "retry-after too long", "deadline",
	// "rate limited", "circuit open", "not idempotent", "body not
	// replayable" or "not retryable"; "" when the request succeeded, got a
	// final answer (a 404, a 500), or was refused before any attempt.
	GaveUp string
	// ServerWait is the wait the provider asked for (Retry-After or a
	// quota reset) when GaveUp is "retry-after too long". Only WithOutcome
	// records it (no header carries it).
	ServerWait time.Duration
	// FromCache reports whether the response came from sluice's cache;
	// Stale whether that entry was past its TTL (served because the
	// upstream failed).
	FromCache, Stale bool
}

// OutcomeOf reads the Outcome of a response returned by a Transport from
// its headers (AttemptsHeader, WaitedHeader, GaveUpHeader and the cache
// markers).
func OutcomeOf(resp *http.Response) Outcome {
	if resp == nil {
		return Outcome{}
	}
	h := resp.Header
	var o Outcome
	switch h.Get(httpcache.CacheHeader) {
	case "hit":
		o.FromCache = true
		return o
	case "stale":
		o.FromCache, o.Stale = true, true
		return o
	}
	o.Attempts = 1
	if n, err := strconv.Atoi(h.Get(AttemptsHeader)); err == nil && n > 0 {
		o.Attempts = n
	}
	if ms, err := strconv.ParseInt(h.Get(WaitedHeader), 10, 64); err == nil && ms > 0 {
		o.Waited = time.Duration(ms) * time.Millisecond
	}
	o.GaveUp = h.Get(GaveUpHeader)
	return o
}

// WithOutcome returns a context whose request, sent through a Transport,
// has its Outcome stored in *o when RoundTrip returns, whether it returns a
// response or an error. Read *o after the call returns, not during it.
func WithOutcome(ctx context.Context, o *Outcome) context.Context {
	return context.WithValue(ctx, outcomeKey{}, o)
}

type outcomeKey struct{}

// requestInfo is what the attempts of one RoundTrip record as they go. It
// is written by the call that sends the request (a shared call for a
// coalesced one) and read when RoundTrip returns, hence the atomics.
type requestInfo struct {
	attempts atomic.Int64
	waitedNs atomic.Int64
	gaveUp   atomic.Pointer[string]
	serverNs atomic.Int64 // the too-long wait the provider asked for
}

type infoKey struct{}

// markResponse sets the outcome headers of a response that went upstream.
func markResponse(resp *http.Response, attempts int, waited time.Duration, gaveUp string) {
	if resp == nil {
		return
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	h := resp.Header
	if attempts > 1 {
		h.Set(AttemptsHeader, strconv.Itoa(attempts))
	} else {
		h.Del(AttemptsHeader)
	}
	if ms := waited.Milliseconds(); ms > 0 {
		h.Set(WaitedHeader, strconv.FormatInt(ms, 10))
	} else {
		h.Del(WaitedHeader)
	}
	if gaveUp != "" {
		h.Set(GaveUpHeader, gaveUp)
	} else {
		h.Del(GaveUpHeader)
	}
}

// markCached clears the outcome headers a cached response was stored
// with (httpcache sets the cache markers).
func markCached(resp *http.Response) *http.Response {
	h := resp.Header
	h.Del(AttemptsHeader)
	h.Del(WaitedHeader)
	h.Del(GaveUpHeader)
	return resp
}

// recordOutcome stores the outcome of a RoundTrip in the caller's
// *Outcome, if it asked for one (WithOutcome).
func recordOutcome(ctx context.Context, info *requestInfo, resp *http.Response, err error) {
	o, ok := ctx.Value(outcomeKey{}).(*Outcome)
	if !ok || o == nil {
		return
	}
	if resp != nil {
		*o = OutcomeOf(resp)
		if o.GaveUp == "retry-after too long" {
			o.ServerWait = time.Duration(info.serverNs.Load())
		}
		return
	}
	*o = Outcome{Attempts: int(info.attempts.Load()), Waited: time.Duration(info.waitedNs.Load())}
	if g := info.gaveUp.Load(); g != nil {
		o.GaveUp = *g
	}
	// A coalesced request shares another caller's attempts: the error
	// still says how many there were.
	var re *RetryError
	if o.Attempts == 0 && errors.As(err, &re) {
		o.Attempts, o.GaveUp = re.Attempts, re.Reason
	}
}
