package egress

import (
	"fmt"
	"strings"
)

// ACL is a host allow-list with exceptions. Patterns are host names (case
// ignored, no port) or "*.example.com", which matches every subdomain of
// example.com but not example.com itself. The zero ACL allows nothing:
// egress is default-deny.
type ACL struct {
	// Allow lists the hosts that may be reached.
	Allow []string
	// Deny lists hosts refused even when Allow matches them.
	Deny []string
}

// CheckPattern reports whether p is a pattern ACL accepts, with an error
// saying what to change when it is not.
func CheckPattern(p string) error {
	h := strings.TrimPrefix(p, "*.")
	switch {
	case h == "":
		return fmt.Errorf("egress: host pattern %q is empty; write a host name or *.example.com", p)
	case strings.ContainsAny(h, "*/:@ "):
		return fmt.Errorf("egress: host pattern %q: only a leading \"*.\" is allowed, and no port, scheme or path", p)
	}
	return nil
}

// Allowed reports whether host may be reached. host may carry a trailing
// dot; it is compared without it.
func (a ACL) Allowed(host string) bool {
	h := Normalize(host)
	if h == "" {
		return false
	}
	for _, p := range a.Deny {
		if matchHost(p, h) {
			return false
		}
	}
	for _, p := range a.Allow {
		if matchHost(p, h) {
			return true
		}
	}
	return false
}

// Normalize lowercases host and strips one trailing dot and IPv6 brackets.
func Normalize(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return h
}

func matchHost(pattern, host string) bool {
	p := strings.ToLower(pattern)
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		return len(host) > len(rest)+1 && strings.HasSuffix(host, "."+rest)
	}
	return p == host
}
