package sluicetest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// SecondaryLimit is a GitHub-style secondary rate limit: besides its
// primary quota, GitHub refuses clients that send too many requests at once
// or too many in a short time, and then blocks them for a while. Requests
// it refuses are not charged against Options.Limit. Its refusals speak
// GitHub's form (a JSON body naming the secondary rate limits) whatever the
// Dialect.
type SecondaryLimit struct {
	// MaxConcurrent is the most requests in flight at once: a request that
	// finds more than MaxConcurrent in flight, itself included, when it is
	// decided triggers the limit. Requests overlap only for as long as they
	// are served, so give the provider Faults.Latency for this to bite.
	// Zero means no concurrency trigger.
	MaxConcurrent int
	// Limit is a short-term rate (GitHub: so many points a minute); a
	// request it refuses triggers the limit. The zero Limit means none.
	Limit Limit
	// Penalty is how long a trigger blocks every request. Zero means only
	// the triggering request is refused, and its answer asks for a wait of
	// one second.
	Penalty time.Duration
	// Status is the refusals' status: 403 (the default, for zero) or 429.
	Status int
	// Hint is how a refusal says when to come back.
	Hint SecondaryHint
}

// SecondaryHint is how a secondary-limit refusal says when to retry, in
// the three forms GitHub documents.
type SecondaryHint int

const (
	// HintRetryAfter sends "Retry-After: N", N the whole seconds (rounded
	// up, at least 1) left of the penalty.
	HintRetryAfter SecondaryHint = iota
	// HintReset sends "X-Ratelimit-Remaining: 0" with "X-Ratelimit-Reset"
	// at the end of the penalty (epoch seconds, rounded up), and no
	// Retry-After.
	HintReset
	// HintNone sends neither: the primary quota headers (if any) are sent
	// as they are, and GitHub asks to wait at least a minute.
	HintNone
)

// secondary is the state of a SecondaryLimit. It is not safe for
// concurrent use; the Provider guards it with its mu.
type secondary struct {
	on    bool
	l     SecondaryLimit
	b     bucket
	until time.Time // the penalty's end
}

func newSecondary(l *SecondaryLimit) secondary {
	if l == nil {
		return secondary{}
	}
	return secondary{on: true, l: *l, b: newBucket(l.Limit)}
}

// check advances the secondary limit to now and reports whether a request,
// finding inFlight requests in flight, is refused by a penalty or by the
// concurrency trigger, with the wait its answer states.
func (s *secondary) check(now time.Time, inFlight int) (time.Duration, bool) {
	if !s.on {
		return 0, false
	}
	s.b.advance(now)
	if now.Before(s.until) {
		return s.until.Sub(now), true
	}
	if s.l.MaxConcurrent > 0 && inFlight > s.l.MaxConcurrent {
		return s.trigger(now, 0), true
	}
	return 0, false
}

// wait returns how long until the short-term rate admits a request.
func (s *secondary) wait() time.Duration {
	if !s.on {
		return 0
	}
	return s.b.wait(1)
}

// take charges an accepted request to the short-term rate.
func (s *secondary) take() {
	if s.on {
		s.b.take(1)
	}
}

// trigger starts a penalty at now and returns the wait the refusal states:
// the penalty, or the short-term rate's own wait (at least a second) when
// there is no penalty.
func (s *secondary) trigger(now time.Time, rateWait time.Duration) time.Duration {
	if s.l.Penalty > 0 {
		s.until = now.Add(s.l.Penalty)
		return s.l.Penalty
	}
	return max(rateWait, time.Second)
}

// secondaryRefusal writes the headers of a secondary-limit refusal and
// returns its status and body.
func (p *Provider) secondaryRefusal(h http.Header, d *decision) (int, []byte) {
	l := p.opts.Secondary
	status := http.StatusForbidden
	if l.Status == http.StatusTooManyRequests {
		status = l.Status
	}
	switch l.Hint {
	case HintRetryAfter:
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(d.wait), 10))
	case HintReset:
		h.Set("X-Ratelimit-Remaining", "0")
		h.Set("X-Ratelimit-Reset", strconv.FormatInt(ceilSecond(d.now.Add(d.wait)).Unix(), 10))
		if h.Get("X-Ratelimit-Limit") == "" {
			h.Set("X-Ratelimit-Limit", "5000")
			h.Set("X-Ratelimit-Used", "5000")
			h.Set("X-Ratelimit-Resource", p.resource("core"))
		} else {
			h.Set("X-Ratelimit-Used", h.Get("X-Ratelimit-Limit"))
		}
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	body := fmt.Appendf(nil, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"%d"}`, status)
	return status, body
}
