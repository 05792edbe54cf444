// Package egress decides which destinations a proxy may reach: a host
// allow-list (ACL), a classification of IP addresses that refuses every
// address that is not plain public unicast unless a Policy allows its class,
// and a Dialer that resolves a name once, checks every address and dials
// only an address it checked, so a DNS answer cannot change between the
// check and the connection (no rebinding window).
//
// The ACL matches host names as written; IP rules belong in the
// classification, which sees the addresses a name resolves to.
package egress

import (
	"net/netip"
	"strings"
)

// Class is the kind of an IP address, as far as egress rules care.
type Class uint8

// The address classes. Public is the only class a zero Policy allows.
const (
	Public       Class = iota // global unicast not in any range below
	Loopback                  // 127.0.0.0/8, ::1
	Private                   // 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10
	LinkLocal                 // 169.254/16 (incl. 169.254.169.254 metadata), fe80::/10
	CGNAT                     // 100.64.0.0/10 (shared address space)
	Unspecified               // 0.0.0.0/8, ::
	Multicast                 // 224/4, ff00::/8, 255.255.255.255
	EmbeddedIPv4              // ::ffff:0:0/96, ::/96, 64:ff9b::/96, 64:ff9b:1::/48, 2002::/16, 2001::/32
	Reserved                  // documentation, benchmarking, IETF, 240/4, 100::/64
	Self                      // the proxy's own listening address (see Policy.Self)
	numClasses
)

var classNames = [numClasses]string{
	"public", "loopback", "private", "link-local", "cgnat", "unspecified",
	"multicast", "embedded-ipv4", "reserved", "self",
}

// String returns the class name used in configuration ("link-local").
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "unknown"
}

// ParseClass returns the class named s (as written by String, case
// ignored).
func ParseClass(s string) (Class, bool) {
	for i, n := range classNames {
		if strings.EqualFold(s, n) {
			return Class(i), true
		}
	}
	return 0, false
}

type rangeClass struct {
	p netip.Prefix
	c Class
}

// ranges are checked in order; the first prefix containing the address
// gives its class. Read-only.
var ranges = func() []rangeClass {
	spec := []struct {
		p string
		c Class
	}{
		// IPv6 forms that carry an IPv4 address come first: a proxy must not
		// be led to an internal IPv4 host through a translator or relay.
		{"::ffff:0:0/96", EmbeddedIPv4},  // IPv4-mapped
		{"::/128", Unspecified},          // before ::/96
		{"::1/128", Loopback},            // before ::/96
		{"::/96", EmbeddedIPv4},          // IPv4-compatible (deprecated)
		{"64:ff9b::/96", EmbeddedIPv4},   // NAT64 well-known prefix
		{"64:ff9b:1::/48", EmbeddedIPv4}, // local-use NAT64
		{"2002::/16", EmbeddedIPv4},      // 6to4
		{"2001::/32", EmbeddedIPv4},      // Teredo
		{"fc00::/7", Private},            // unique local
		{"fec0::/10", Private},           // site-local (deprecated)
		{"fe80::/10", LinkLocal},
		{"ff00::/8", Multicast},
		{"100::/64", Reserved},        // discard-only
		{"2001:db8::/32", Reserved},   // documentation
		{"2001:2::/48", Reserved},     // benchmarking
		{"2001:10::/28", Reserved},    // ORCHID
		{"2001:20::/28", Reserved},    // ORCHIDv2
		{"3fff::/20", Reserved},       // documentation (RFC 9637)
		{"5f00::/16", Reserved},       // SRv6 SIDs
		{"0.0.0.0/8", Unspecified},    // "this network"
		{"127.0.0.0/8", Loopback},     //
		{"10.0.0.0/8", Private},       //
		{"172.16.0.0/12", Private},    //
		{"192.168.0.0/16", Private},   //
		{"169.254.0.0/16", LinkLocal}, // cloud metadata lives here
		{"100.64.0.0/10", CGNAT},      //
		{"192.0.0.0/24", Reserved},    // IETF protocol assignments
		{"192.0.2.0/24", Reserved},    // TEST-NET-1
		{"198.51.100.0/24", Reserved}, // TEST-NET-2
		{"203.0.113.0/24", Reserved},  // TEST-NET-3
		{"198.18.0.0/15", Reserved},   // benchmarking
		{"192.88.99.0/24", Reserved},  // 6to4 relay anycast
		{"255.255.255.255/32", Multicast},
		{"224.0.0.0/4", Multicast},
		{"240.0.0.0/4", Reserved},
	}
	out := make([]rangeClass, len(spec))
	for i, s := range spec {
		out[i] = rangeClass{netip.MustParsePrefix(s.p), s.c}
	}
	return out
}()

var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// Classify returns the class of ip. An invalid address is Unspecified. The
// zone of a scoped IPv6 address is ignored. Classify never returns Self:
// only a Policy knows the proxy's own addresses.
func Classify(ip netip.Addr) Class {
	if !ip.IsValid() {
		return Unspecified
	}
	ip = ip.WithZone("")
	for _, r := range ranges {
		if r.p.Contains(ip) {
			return r.c
		}
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return Reserved // outside 2000::/3 nothing is assigned for unicast
	}
	return Public
}
