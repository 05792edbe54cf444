package circuit

import (
	"fmt"
	"math"
	"time"
)

// Defaults applied by New to zero fields of Settings.
const (
	DefaultConsecutiveFailures uint32        = 5
	DefaultMinRequests         uint32        = 20
	DefaultWindow              time.Duration = 30 * time.Second
	DefaultOpenTimeout         time.Duration = 30 * time.Second
	DefaultHalfOpenProbes      uint32        = 1
)

// Bounds checked by New. Values past them are configuration mistakes (a
// breaker that can never trip, or that counts in nanosecond buckets).
const (
	// windowBuckets is the number of buckets the rolling window is cut in:
	// outcomes leave the window one bucket (Window/10) at a time.
	windowBuckets = 10
	// MinWindow is the shortest Window accepted.
	MinWindow = 10 * time.Millisecond
	// MaxProbes is the largest HalfOpenProbes accepted.
	MaxProbes uint32 = 10000
)

// Settings configures a Breaker. Every zero field means its default, so the
// zero Settings is a usable breaker: open after 5 failures in a row, stay
// open 30s, then let 1 probe through.
type Settings struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row (within Window; Neutral outcomes do not break a run). 0 means 5.
	ConsecutiveFailures uint32
	// FailureRatio opens the breaker when failures/(successes+failures)
	// over the rolling Window reaches it, once at least MinRequests
	// outcomes were counted. It must be in [0, 1]; 0 turns the ratio rule
	// off.
	FailureRatio float64
	// MinRequests is the volume of counted outcomes (successes plus
	// failures) in Window below which FailureRatio is not applied. 0 means
	// 20.
	MinRequests uint32
	// Window is the rolling window over which outcomes are counted, in 10
	// buckets: an outcome stops counting between 0.9 and 1 Window after its
	// request was allowed. 0 means 30s; otherwise at least 10ms.
	Window time.Duration
	// OpenTimeout is how long the breaker stays open before it lets probes
	// through. 0 means 30s; negative is an error.
	OpenTimeout time.Duration
	// HalfOpenProbes is how many requests the half-open breaker lets
	// through at once; that many successes in a row close it, any failure
	// opens it again. 0 means 1; at most 10000.
	HalfOpenProbes uint32
	// OnStateChange, if not nil, is called once for every transition,
	// after the breaker's lock is released, so it may call the breaker's
	// methods. Calls for one breaker are made one at a time, in order.
	OnStateChange func(name string, from, to State)
}

// withDefaults returns s with zero fields replaced by their defaults.
func (s Settings) withDefaults() Settings {
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if s.MinRequests == 0 {
		s.MinRequests = DefaultMinRequests
	}
	if s.Window == 0 {
		s.Window = DefaultWindow
	}
	if s.OpenTimeout == 0 {
		s.OpenTimeout = DefaultOpenTimeout
	}
	if s.HalfOpenProbes == 0 {
		s.HalfOpenProbes = DefaultHalfOpenProbes
	}
	return s
}

// validate reports the first field of s that is out of range.
func (s Settings) validate() error {
	switch {
	case math.IsNaN(s.FailureRatio) || s.FailureRatio < 0 || s.FailureRatio > 1:
		return fmt.Errorf("circuit: FailureRatio %v must be between 0 and 1", s.FailureRatio)
	case s.Window < 0:
		return fmt.Errorf("circuit: Window %v must not be negative", s.Window)
	case s.Window > 0 && s.Window < MinWindow:
		return fmt.Errorf("circuit: Window %v is shorter than the minimum %v", s.Window, MinWindow)
	case s.OpenTimeout < 0:
		return fmt.Errorf("circuit: OpenTimeout %v must not be negative", s.OpenTimeout)
	case s.HalfOpenProbes > MaxProbes:
		return fmt.Errorf("circuit: HalfOpenProbes %d is more than the maximum %d", s.HalfOpenProbes, MaxProbes)
	}
	return nil
}
