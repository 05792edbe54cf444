package circuit

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sony/gobreaker/v2"
)

// State is the state of a Breaker.
type State int

// The states of a Breaker.
const (
	// Closed lets every request through and counts outcomes.
	Closed State = iota
	// HalfOpen lets HalfOpenProbes requests through to test the upstream.
	HalfOpen
	// Open fails every request at once until OpenTimeout has passed.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Outcome is what a request allowed by a Breaker came to.
type Outcome int

// The outcomes a request may report.
const (
	// Success counts toward closing (half-open) and keeps it closed.
	Success Outcome = iota
	// Failure counts toward opening; in half-open it opens the breaker.
	Failure
	// Neutral counts toward neither side, for results that say nothing
	// about the upstream's health (a 429, a request canceled by its
	// caller). In half-open it frees the probe slot for another request.
	// Values other than Success and Failure are treated as Neutral.
	Neutral
)

// String returns "success", "failure" or "neutral".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return "neutral"
}

var (
	// ErrOpen is returned by Allow while the breaker is open.
	ErrOpen = errors.New("circuit: breaker is open")
	// ErrTooManyProbes is returned by Allow while the breaker is half-open
	// and all its probe slots are in use.
	ErrTooManyProbes = errors.New("circuit: breaker is half-open and all its probes are in use")
)

// stateError is ErrOpen or ErrTooManyProbes with the breaker's name in the
// message. Each Breaker makes its two once, so a rejection allocates nothing.
type stateError struct {
	msg string
	err error
}

func (e *stateError) Error() string { return e.msg }
func (e *stateError) Unwrap() error { return e.err }

// Outcomes as gobreaker sees them: a nil error is a success.
var (
	errFailure = errors.New("circuit: failure")
	errNeutral = errors.New("circuit: neutral")
)

// Counts is a snapshot of a Breaker's counters for the current state: in
// closed, over the rolling window; in half-open, since the breaker became
// half-open. They are reset on every transition.
type Counts struct {
	Requests             uint32 // allowed, including those still in flight
	Successes            uint32
	Failures             uint32
	Neutral              uint32
	ConsecutiveSuccesses uint32
	ConsecutiveFailures  uint32
}

// Breaker is a circuit breaker. It is safe for concurrent use.
type Breaker struct {
	name     string
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	onChange func(name string, from, to State) // nil: no notifications

	errOpen, errProbes error

	mu          sync.Mutex
	pending     []transition // guarded by mu; not yet passed to onChange
	dispatching bool         // guarded by mu; a goroutine is calling onChange
}

type transition struct{ from, to State }

// New returns a Breaker named name (used in errors and OnStateChange)
// configured by s. It reports an error naming the first field of s that is
// out of range.
func New(name string, s Settings) (*Breaker, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%w (breaker %q)", err, name)
	}
	s = s.withDefaults()
	b := &Breaker{
		name:     name,
		onChange: s.OnStateChange,
		errOpen: &stateError{
			msg: fmt.Sprintf("circuit: breaker %q is open: requests fail fast for up to %v before a probe is let through", name, s.OpenTimeout),
			err: ErrOpen,
		},
		errProbes: &stateError{
			msg: fmt.Sprintf("circuit: breaker %q is half-open and all its %d probe(s) are in use", name, s.HalfOpenProbes),
			err: ErrTooManyProbes,
		},
	}
	gs := gobreaker.Settings{
		Name:         name,
		MaxRequests:  s.HalfOpenProbes,
		Interval:     s.Window,
		BucketPeriod: s.Window / windowBuckets,
		Timeout:      s.OpenTimeout,
		ReadyToTrip:  tripRule(s.ConsecutiveFailures, s.FailureRatio, s.MinRequests),
		IsExcluded:   func(err error) bool { return err == errNeutral },
	}
	if b.onChange != nil {
		// gobreaker calls this under its lock: only queue the transition.
		gs.OnStateChange = func(_ string, from, to gobreaker.State) {
			b.mu.Lock()
			b.pending = append(b.pending, transition{fromGo(from), fromGo(to)})
			b.mu.Unlock()
		}
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gs)
	return b, nil
}

// tripRule returns gobreaker's ReadyToTrip: n failures in a row, or a
// failure ratio over the window once the volume is reached.
func tripRule(n uint32, ratio float64, minVolume uint32) func(gobreaker.Counts) bool {
	return func(c gobreaker.Counts) bool {
		if c.ConsecutiveFailures >= n {
			return true
		}
		if ratio <= 0 {
			return false
		}
		total := uint64(c.TotalSuccesses) + uint64(c.TotalFailures)
		return total >= uint64(minVolume) && float64(c.TotalFailures) >= ratio*float64(total)
	}
}

// Allow asks to send one request. If the breaker lets it through, Allow
// returns done, which must be called exactly once with the request's
// outcome (further calls are ignored; a done never called holds a
// half-open probe slot forever). Otherwise it returns an error matching
// ErrOpen or ErrTooManyProbes with errors.Is. Outcomes of requests allowed
// before the breaker last changed state are ignored.
func (b *Breaker) Allow() (done func(Outcome), err error) {
	d, err := b.cb.Allow()
	b.notify()
	if err != nil {
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			return nil, b.errProbes
		}
		return nil, b.errOpen
	}
	var called atomic.Bool
	return func(o Outcome) {
		if called.Swap(true) {
			return
		}
		switch o {
		case Success:
			d(nil)
		case Failure:
			d(errFailure)
		default:
			d(errNeutral)
		}
		b.notify()
	}, nil
}

// State returns the breaker's state now. An open breaker whose OpenTimeout
// has passed becomes half-open on this call (or on the next Allow).
func (b *Breaker) State() State {
	s := fromGo(b.cb.State())
	b.notify()
	return s
}

// Name returns the name the breaker was made with.
func (b *Breaker) Name() string { return b.name }

// Counts returns the breaker's counters as of the last request or
// transition.
func (b *Breaker) Counts() Counts {
	c := b.cb.Counts()
	return Counts{
		Requests:             c.Requests,
		Successes:            c.TotalSuccesses,
		Failures:             c.TotalFailures,
		Neutral:              c.TotalExclusions,
		ConsecutiveSuccesses: c.ConsecutiveSuccesses,
		ConsecutiveFailures:  c.ConsecutiveFailures,
	}
}

// notify passes queued transitions to onChange, outside every lock. One
// goroutine at a time dispatches, so calls arrive in order; a goroutine
// that finds another dispatching leaves its transitions to it (this is
// also what keeps a callback that calls State from recursing).
func (b *Breaker) notify() {
	if b.onChange == nil {
		return
	}
	b.mu.Lock()
	if b.dispatching || len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	b.dispatching = true
	for len(b.pending) > 0 {
		batch := b.pending
		b.pending = nil
		b.mu.Unlock()
		b.deliver(batch)
		b.mu.Lock()
	}
	b.dispatching = false
	b.mu.Unlock()
}

// deliver calls onChange for each transition of batch. If onChange
// panics, the next notify takes over dispatching.
func (b *Breaker) deliver(batch []transition) {
	ok := false
	defer func() {
		if !ok {
			b.mu.Lock()
			b.dispatching = false
			b.mu.Unlock()
		}
	}()
	for _, t := range batch {
		b.onChange(b.name, t.from, t.to)
	}
	ok = true
}

func fromGo(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	}
	return Closed
}
