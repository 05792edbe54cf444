package retry

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults used for the zero fields of a Policy.
const (
	DefaultMaxAttempts   = 5
	DefaultBaseDelay     = 100 * time.Millisecond
	DefaultMaxDelay      = 10 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
)

// ErrInvalidPolicy is returned (wrapped, with the bad field named) by
// Policy.Validate.
var ErrInvalidPolicy = errors.New("retry: invalid policy")

// Jitter selects how a backoff delay is randomised. The zero value is
// JitterFull.
type Jitter int

const (
	// JitterFull draws the delay uniformly from [0, min(MaxDelay, BaseDelay*2^(n-1))).
	// It does the least total work under contention (Brooker, 2015).
	JitterFull Jitter = iota
	// JitterDecorrelated draws the delay uniformly from
	// [BaseDelay, min(MaxDelay, 3*previous)), so it grows by up to 3x per
	// retry from the previous delay rather than from the attempt number.
	JitterDecorrelated
	// JitterEqual keeps half of the capped exponential delay and draws the
	// other half at random.
	JitterEqual
	// JitterNone returns the capped exponential delay itself. Clients that
	// fail together retry together; use it only in tests.
	JitterNone
)

// String returns the jitter's lower-case name, as used in configuration.
func (j Jitter) String() string {
	switch j {
	case JitterFull:
		return "full"
	case JitterDecorrelated:
		return "decorrelated"
	case JitterEqual:
		return "equal"
	case JitterNone:
		return "none"
	default:
		return fmt.Sprintf("Jitter(%d)", int(j))
	}
}

// Policy says how often and how patiently a request is retried. The zero
// Policy is usable: 3 attempts, full jitter from 100ms capped at 10s,
// server-supplied waits honoured up to 60s, and only idempotent requests
// retried.
type Policy struct {
	// MaxAttempts is the total number of attempts, the first included.
	// 0 means DefaultMaxAttempts (5); 1 means never retry.
	MaxAttempts int
	// BaseDelay is the backoff before the first retry, before jitter.
	// 0 means DefaultBaseDelay (100ms).
	BaseDelay time.Duration
	// MaxDelay caps one backoff, before jitter. 0 means DefaultMaxDelay (10s).
	MaxDelay time.Duration
	// Jitter randomises each backoff. The zero value is JitterFull.
	Jitter Jitter
	// MaxRetryAfter caps the waits a server asks for (Retry-After and its
	// millisecond variants). A request whose server asks for longer is not
	// retried: the Transport reports the wait instead of sleeping through
	// it. 0 means DefaultMaxRetryAfter (60s).
	MaxRetryAfter time.Duration
	// RetryNonIdempotent lets POST, PATCH and other non-idempotent requests
	// be retried even without an Idempotency-Key header. Off by default:
	// re-sending a payment is worse than failing it.
	RetryNonIdempotent bool
}

// WithDefaults returns p with every zero field replaced by its default.
func (p Policy) WithDefaults() Policy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return p
}

// Validate reports the first field of p (after defaults) that makes no
// sense. The error wraps ErrInvalidPolicy.
func (p Policy) Validate() error {
	d := p.WithDefaults()
	switch {
	case d.MaxAttempts < 1:
		return fmt.Errorf("%w: max attempts %d is below 1", ErrInvalidPolicy, p.MaxAttempts)
	case d.BaseDelay < 0:
		return fmt.Errorf("%w: base delay %v is negative", ErrInvalidPolicy, p.BaseDelay)
	case d.MaxDelay < 0:
		return fmt.Errorf("%w: max delay %v is negative", ErrInvalidPolicy, p.MaxDelay)
	case d.BaseDelay > d.MaxDelay:
		return fmt.Errorf("%w: base delay %v exceeds max delay %v", ErrInvalidPolicy, d.BaseDelay, d.MaxDelay)
	case d.MaxRetryAfter < 0:
		return fmt.Errorf("%w: max retry-after %v is negative", ErrInvalidPolicy, p.MaxRetryAfter)
	case d.Jitter < JitterFull || d.Jitter > JitterNone:
		return fmt.Errorf("%w: unknown jitter %v", ErrInvalidPolicy, p.Jitter)
	}
	return nil
}

// Delay returns the backoff to wait before retry number retry (1 for the
// first retry, that is the second attempt). prev is the delay returned for
// the previous retry (0 before the first); only JitterDecorrelated uses it.
// rnd returns a number in [0, 1); nil means math/rand/v2's Float64. Values
// outside [0, 1) are clamped.
//
// The exponential delay is capped first and jittered after, t = b *
// min(MaxDelay, BaseDelay*2^(retry-1)), so clients that reach the cap do not
// all wait exactly MaxDelay. Delay works on the defaults of p and never
// returns a negative duration, even for a Policy that fails Validate.
func (p Policy) Delay(retry int, prev time.Duration, rnd func() float64) time.Duration {
	p = p.WithDefaults()
	base, ceiling := max(p.BaseDelay, 0), max(p.MaxDelay, 0)
	base = min(base, ceiling)
	r := draw(rnd)
	switch p.Jitter {
	case JitterDecorrelated:
		// min(cap, U(base, 3*prev)) as in Brooker's simulator, except that
		// the cap bounds the draw instead of the result.
		prev = max(prev, base)
		hi := ceiling
		if prev <= ceiling/3 {
			hi = 3 * prev
		}
		return base + scale(hi-base, r)
	case JitterEqual:
		e := expo(base, ceiling, retry)
		return e - e/2 + scale(e/2, r)
	case JitterNone:
		return expo(base, ceiling, retry)
	default:
		return scale(expo(base, ceiling, retry), r)
	}
}

// expo returns min(ceiling, base*2^(retry-1)) without overflowing.
func expo(base, ceiling time.Duration, retry int) time.Duration {
	n := max(retry-1, 0)
	if base == 0 {
		return 0
	}
	if n >= 62 || base > ceiling>>n {
		return ceiling
	}
	return base << n
}

// draw returns a random number in [0, 1) from rnd.
func draw(rnd func() float64) float64 {
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	if !(r > 0) { // also NaN
		return 0
	}
	return min(r, math.Nextafter(1, 0))
}

// scale returns d*r, for r in [0, 1).
func scale(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * r)
}
