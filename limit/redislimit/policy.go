package redislimit

import (
	"errors"
	"fmt"
)

// FailurePolicy says what a limiter does when Redis errors or does not answer
// within Options.Timeout.
type FailurePolicy int

const (
	// FailLocal falls back to a limiter in this process at the rate divided by
	// Options.ExpectedWorkers. It is the default.
	FailLocal FailurePolicy = iota
	// FailDeny refuses: calls return an *UnavailableError (matching
	// ErrUnavailable) and nothing is granted.
	FailDeny
	// FailAllow grants every call: no limit until Redis is back.
	FailAllow
)

var policyNames = [...]string{FailLocal: "local", FailDeny: "deny", FailAllow: "allow"}

// String returns "local", "deny" or "allow".
func (p FailurePolicy) String() string {
	if p >= 0 && int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("FailurePolicy(%d)", int(p))
}

// ParseFailurePolicy parses "local", "deny" or "allow"; "" means local.
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	if s == "" {
		return FailLocal, nil
	}
	for p, name := range policyNames {
		if s == name {
			return FailurePolicy(p), nil
		}
	}
	return 0, fmt.Errorf("redislimit: unknown failure policy %q (want local, deny or allow)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (p FailurePolicy) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(policyNames) {
		return nil, fmt.Errorf("redislimit: unknown failure policy %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, so configuration files
// can say failure_policy: deny.
func (p *FailurePolicy) UnmarshalText(b []byte) error {
	v, err := ParseFailurePolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ErrUnavailable is matched by the *UnavailableError that limiters return
// under FailDeny while Redis cannot be reached.
var ErrUnavailable = errors.New("redislimit: redis unavailable")

// UnavailableError reports that a decision could not be made because Redis
// failed or timed out. It matches ErrUnavailable with errors.Is and unwraps to
// the Redis error, if any.
type UnavailableError struct {
	// Err is the Redis error, or nil when the call was not tried because an
	// earlier one failed and Redis is not due to be probed yet.
	Err error
}

// Error implements error.
func (e *UnavailableError) Error() string {
	if e.Err == nil {
		return ErrUnavailable.Error()
	}
	return ErrUnavailable.Error() + ": " + e.Err.Error()
}

// Is reports whether target is ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the Redis error.
func (e *UnavailableError) Unwrap() error { return e.Err }
