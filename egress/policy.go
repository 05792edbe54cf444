package egress

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrRefused is matched (errors.Is) by every error that refuses a
// destination: a host not allowed, or an address of a refused class.
var ErrRefused = errors.New("egress: destination refused")

// RefusedError says why a destination was refused. It matches ErrRefused.
type RefusedError struct {
	// Host is the host name or address as requested.
	Host string
	// Addr is the refused address; invalid when the host itself was
	// refused (by the ACL) before any address was known.
	Addr netip.Addr
	// Class is the refused address's class (Public when Addr is invalid).
	Class Class
	// Reason says what refused it, e.g. "host not allowed" or
	// "address class link-local not allowed".
	Reason string
}

// Error implements error.
func (e *RefusedError) Error() string {
	if e.Addr.IsValid() {
		return fmt.Sprintf("egress: %s (%s): %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("egress: %s: %s", e.Host, e.Reason)
}

// Is reports whether target is ErrRefused.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Policy says which addresses may be dialed. The zero Policy allows public
// unicast addresses only.
type Policy struct {
	// Allow lists the classes allowed besides Public ("loopback" for an
	// upstream on the same machine). Self in Allow lets the proxy reach its
	// own listening address.
	Allow []Class
	// AllowPrefixes are allowed whatever their class (a private API at
	// 10.1.2.0/24). DenyPrefixes win over them and over Allow.
	AllowPrefixes []netip.Prefix
	// DenyPrefixes are refused whatever their class.
	DenyPrefixes []netip.Prefix
	// Self lists the proxy's own listening addresses; dialing one (same
	// address and port) is refused unless Allow has Self. An entry with an
	// unspecified address (0.0.0.0:8080, [::]:8080) matches that port on
	// every address.
	Self []netip.AddrPort
}

// Check returns nil when addr may be dialed under p, or a *RefusedError.
func (p *Policy) Check(host string, addr netip.AddrPort) error {
	ip := addr.Addr().WithZone("")
	for _, d := range p.DenyPrefixes {
		if d.Contains(ip) {
			return &RefusedError{Host: host, Addr: ip, Class: Classify(ip), Reason: "address in denied prefix " + d.String()}
		}
	}
	if p.isSelf(addr) && !p.allows(Self) {
		return &RefusedError{Host: host, Addr: ip, Class: Self, Reason: "address is the proxy's own"}
	}
	for _, a := range p.AllowPrefixes {
		if a.Contains(ip) {
			return nil
		}
	}
	c := Classify(ip)
	if c == Public || p.allows(c) {
		return nil
	}
	return &RefusedError{Host: host, Addr: ip, Class: c, Reason: "address class " + c.String() + " not allowed"}
}

func (p *Policy) allows(c Class) bool {
	for _, a := range p.Allow {
		if a == c {
			return true
		}
	}
	return false
}

func (p *Policy) isSelf(addr netip.AddrPort) bool {
	ip := addr.Addr().WithZone("").Unmap()
	for _, s := range p.Self {
		if s.Port() != addr.Port() {
			continue
		}
		if s.Addr().IsUnspecified() || s.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}
