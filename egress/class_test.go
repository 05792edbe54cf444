package egress

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		ip   string
		want Class
	}{
		{"8.8.8.8", Public},
		{"1.1.1.1", Public},
		{"140.82.112.3", Public},
		{"2606:4700::1111", Public},
		{"2a00:1450:4001::200e", Public},
		{"127.0.0.1", Loopback},
		{"127.255.255.254", Loopback},
		{"::1", Loopback},
		{"10.0.0.1", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"172.32.0.1", Public},
		{"192.168.1.1", Private},
		{"fd00::1", Private},
		{"fc00::1", Private},
		{"fec0::1", Private},
		{"169.254.169.254", LinkLocal},
		{"169.254.0.1", LinkLocal},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"100.64.0.1", CGNAT},
		{"100.127.255.255", CGNAT},
		{"100.128.0.1", Public},
		{"0.0.0.0", Unspecified},
		{"0.1.2.3", Unspecified},
		{"::", Unspecified},
		{"224.0.0.1", Multicast},
		{"239.255.255.250", Multicast},
		{"255.255.255.255", Multicast},
		{"ff02::1", Multicast},
		{"::ffff:127.0.0.1", EmbeddedIPv4},
		{"::ffff:8.8.8.8", EmbeddedIPv4},
		{"::ffff:169.254.169.254", EmbeddedIPv4},
		{"::127.0.0.1", EmbeddedIPv4},
		{"64:ff9b::a9fe:a9fe", EmbeddedIPv4},
		{"64:ff9b:1::a00:1", EmbeddedIPv4},
		{"2002:7f00:1::1", EmbeddedIPv4},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", EmbeddedIPv4},
		{"192.0.2.1", Reserved},
		{"198.51.100.7", Reserved},
		{"203.0.113.9", Reserved},
		{"198.18.0.1", Reserved},
		{"192.0.0.8", Reserved},
		{"240.0.0.1", Reserved},
		{"2001:db8::1", Reserved},
		{"100::1", Reserved},
		{"4000::1", Reserved},
	}
	for _, tt := range tests {
		if got := Classify(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Classify(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	if got := Classify(netip.Addr{}); got != Unspecified {
		t.Errorf("Classify(invalid) = %v, want unspecified", got)
	}
}

func TestParseClass(t *testing.T) {
	for c := Public; c < numClasses; c++ {
		got, ok := ParseClass(c.String())
		if !ok || got != c {
			t.Errorf("ParseClass(%q) = %v, %v", c.String(), got, ok)
		}
	}
	if _, ok := ParseClass("internet"); ok {
		t.Error(`ParseClass("internet") ok`)
	}
	if Class(200).String() != "unknown" {
		t.Error("out-of-range class has a name")
	}
}

func TestPolicyCheck(t *testing.T) {
	self := netip.MustParseAddrPort("0.0.0.0:8080")
	tests := []struct {
		name string
		pol  Policy
		addr string
		ok   bool
		cls  Class
	}{
		{"public", Policy{}, "8.8.8.8:443", true, Public},
		{"loopback refused", Policy{}, "127.0.0.1:80", false, Loopback},
		{"loopback allowed", Policy{Allow: []Class{Loopback}}, "127.0.0.1:80", true, Loopback},
		{"metadata refused", Policy{Allow: []Class{Private}}, "169.254.169.254:80", false, LinkLocal},
		{"mapped loopback refused though loopback allowed", Policy{Allow: []Class{Loopback}}, "[::ffff:127.0.0.1]:80", false, EmbeddedIPv4},
		{"prefix allows private", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}}, "10.1.2.3:443", true, Private},
		{"prefix does not widen", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}}, "10.1.3.3:443", false, Private},
		{"deny wins over allow", Policy{Allow: []Class{Private}, DenyPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "10.0.0.1:443", false, Private},
		{"deny public", Policy{DenyPrefixes: []netip.Prefix{netip.MustParsePrefix("8.8.8.0/24")}}, "8.8.8.8:443", false, Public},
		{"self refused", Policy{Allow: []Class{Loopback}, Self: []netip.AddrPort{self}}, "127.0.0.1:8080", false, Self},
		{"self other port", Policy{Allow: []Class{Loopback}, Self: []netip.AddrPort{self}}, "127.0.0.1:8081", true, Loopback},
		{"self exact public", Policy{Self: []netip.AddrPort{netip.MustParseAddrPort("8.8.4.4:3128")}}, "8.8.4.4:3128", false, Self},
		{"self allowed", Policy{Allow: []Class{Loopback, Self}, Self: []netip.AddrPort{self}}, "127.0.0.1:8080", true, Self},
		{"self beats allow prefix", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Self: []netip.AddrPort{self}}, "127.0.0.1:8080", false, Self},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pol.Check("h", netip.MustParseAddrPort(tt.addr))
			if (err == nil) != tt.ok {
				t.Fatalf("Check(%s) = %v, want ok=%v", tt.addr, err, tt.ok)
			}
			if err != nil {
				var re *RefusedError
				if !asRefused(err, &re) || re.Class != tt.cls {
					t.Fatalf("Check(%s) = %#v, want class %v", tt.addr, err, tt.cls)
				}
			}
		})
	}
}

func TestACL(t *testing.T) {
	acl := ACL{Allow: []string{"api.github.com", "*.openai.com", "Example.ORG"}, Deny: []string{"evil.openai.com"}}
	tests := []struct {
		host string
		want bool
	}{
		{"api.github.com", true},
		{"API.GitHub.com.", true},
		{"github.com", false},
		{"xapi.github.com", false},
		{"api.github.com.evil.net", false},
		{"api.openai.com", true},
		{"a.b.openai.com", true},
		{"openai.com", false},
		{"evil.openai.com", false},
		{"example.org", true},
		{"", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		if got := acl.Allowed(tt.host); got != tt.want {
			t.Errorf("Allowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if (ACL{}).Allowed("api.github.com") {
		t.Error("zero ACL allows a host")
	}
}

func TestCheckPattern(t *testing.T) {
	tests := []struct {
		p  string
		ok bool
	}{
		{"api.github.com", true}, {"*.openai.com", true}, {"", false}, {"*.", false},
		{"a.*.com", false}, {"api.github.com:443", false}, {"https://x", false}, {"*", false},
	}
	for _, tt := range tests {
		if err := CheckPattern(tt.p); (err == nil) != tt.ok {
			t.Errorf("CheckPattern(%q) = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::ffff:10.0.0.1", "169.254.169.254", "2002::1", "8.8.8.8", "fe80::1%lo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		c := Classify(ip)
		if c >= numClasses || c == Self {
			t.Fatalf("Classify(%s) = %d", s, c)
		}
		// Every IPv4 address seen through a mapped IPv6 form is refused.
		if ip.Is4() && Classify(netip.AddrFrom16(ip.As16())) != EmbeddedIPv4 {
			t.Fatalf("mapped form of %s not embedded-ipv4", s)
		}
		// The zero policy allows exactly the public class.
		err = (&Policy{}).Check("h", netip.AddrPortFrom(ip, 443))
		if (err == nil) != (c == Public) {
			t.Fatalf("zero Policy.Check(%s) = %v for class %v", s, err, c)
		}
		if c == Public && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() || ip.Is4In6()) {
			t.Fatalf("%s classified public", s)
		}
	})
}
