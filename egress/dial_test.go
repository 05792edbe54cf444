package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func asRefused(err error, re **RefusedError) bool { return errors.As(err, re) }

// fakeResolver answers from a table; each lookup of a name takes the next
// answer (the last one repeats), so a test can make a name resolve public
// then private.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][][]string // guarded by mu
	calls   map[string]int        // guarded by mu
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	as, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	i := min(r.calls[host], len(as)-1)
	r.calls[host]++
	var out []netip.Addr
	for _, s := range as[i] {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// guardDialer records what it is asked to dial and never dials anything: a
// request for an address the test did not expect fails the test.
type guardDialer struct {
	t      *testing.T
	mu     sync.Mutex
	dialed []string // guarded by mu
	expect map[string]bool
}

func (g *guardDialer) DialContext(_ context.Context, network, address string) (net.Conn, error) {
	g.mu.Lock()
	g.dialed = append(g.dialed, address)
	g.mu.Unlock()
	if !g.expect[address] {
		g.t.Errorf("dialer asked for unexpected %s %s", network, address)
		return nil, errors.New("test: unexpected dial")
	}
	c1, c2 := net.Pipe()
	c2.Close()
	return c1, nil
}

func TestDialer(t *testing.T) {
	res := &fakeResolver{answers: map[string][][]string{
		"api.example.com":   {{"8.8.8.8"}},
		"meta.example.com":  {{"169.254.169.254"}},
		"lo.example.com":    {{"127.0.0.1"}},
		"ten.example.com":   {{"10.0.0.5"}},
		"cg.example.com":    {{"100.64.1.1"}},
		"any.example.com":   {{"0.0.0.0"}},
		"mc.example.com":    {{"224.0.0.251"}},
		"map.example.com":   {{"::ffff:127.0.0.1"}},
		"n64.example.com":   {{"64:ff9b::a9fe:a9fe"}},
		"6to4.example.com":  {{"2002:a9fe:a9fe::1"}},
		"ter.example.com":   {{"2001:0:4136:e378:8000:63bf:3fff:fdd2"}},
		"ula.example.com":   {{"fd12::1"}},
		"mixed.example.com": {{"10.0.0.1", "8.8.4.4"}},
	}}
	pol := &Policy{}
	tests := []struct {
		addr    string
		dial    string // expected dialed address; "" means refused
		class   Class
		refused bool
	}{
		{addr: "api.example.com:443", dial: "8.8.8.8:443"},
		{addr: "API.Example.com.:443", dial: "8.8.8.8:443"},
		{addr: "8.8.8.8:443", dial: "8.8.8.8:443"},
		{addr: "meta.example.com:80", class: LinkLocal, refused: true},
		{addr: "169.254.169.254:80", class: LinkLocal, refused: true},
		{addr: "lo.example.com:80", class: Loopback, refused: true},
		{addr: "[::1]:80", class: Loopback, refused: true},
		{addr: "ten.example.com:80", class: Private, refused: true},
		{addr: "ula.example.com:80", class: Private, refused: true},
		{addr: "cg.example.com:80", class: CGNAT, refused: true},
		{addr: "any.example.com:80", class: Unspecified, refused: true},
		{addr: "[::]:80", class: Unspecified, refused: true},
		{addr: "mc.example.com:80", class: Multicast, refused: true},
		{addr: "map.example.com:80", class: EmbeddedIPv4, refused: true},
		{addr: "[::ffff:169.254.169.254]:80", class: EmbeddedIPv4, refused: true},
		{addr: "n64.example.com:80", class: EmbeddedIPv4, refused: true},
		{addr: "6to4.example.com:80", class: EmbeddedIPv4, refused: true},
		{addr: "ter.example.com:80", class: EmbeddedIPv4, refused: true},
		{addr: "mixed.example.com:443", dial: "8.8.4.4:443"},
		{addr: "blocked.example.com:443", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			g := &guardDialer{t: t, expect: map[string]bool{tt.dial: tt.dial != ""}}
			d := &Dialer{Resolver: res, Dialer: g, Policy: func(host string) (*Policy, error) {
				if strings.HasPrefix(host, "blocked.") {
					return nil, &RefusedError{Host: host, Reason: "host not allowed"}
				}
				return pol, nil
			}}
			c, err := d.DialContext(context.Background(), "tcp", tt.addr)
			if tt.refused {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("DialContext(%s) = %v, want ErrRefused", tt.addr, err)
				}
				var re *RefusedError
				errors.As(err, &re)
				if re.Class != tt.class {
					t.Fatalf("refused class %v, want %v (%v)", re.Class, tt.class, err)
				}
				if len(g.dialed) != 0 {
					t.Fatalf("dialed %v for a refused destination", g.dialed)
				}
				return
			}
			if err != nil {
				t.Fatalf("DialContext(%s): %v", tt.addr, err)
			}
			c.Close()
			if len(g.dialed) != 1 || g.dialed[0] != tt.dial {
				t.Fatalf("dialed %v, want [%s]", g.dialed, tt.dial)
			}
		})
	}
}

// TestDialerRebinding: a name that resolves to a public address and then
// to a private one is dialed at the public address the first time and
// refused the second; the checked address is what is dialed.
func TestDialerRebinding(t *testing.T) {
	res := &fakeResolver{answers: map[string][][]string{
		"rebind.example.com": {{"8.8.8.8"}, {"10.0.0.1"}},
	}}
	g := &guardDialer{t: t, expect: map[string]bool{"8.8.8.8:443": true}}
	d := &Dialer{Resolver: res, Dialer: g, Policy: func(string) (*Policy, error) { return &Policy{}, nil }}
	c, err := d.DialContext(context.Background(), "tcp", "rebind.example.com:443")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := d.DialContext(context.Background(), "tcp", "rebind.example.com:443"); !errors.Is(err, ErrRefused) {
		t.Fatalf("second dial = %v, want refused", err)
	}
	if fmt.Sprint(g.dialed) != "[8.8.8.8:443]" {
		t.Fatalf("dialed %v", g.dialed)
	}
}

// TestDialerCache: with CacheTTL, a name is looked up once per TTL, every
// dial still checks the cached addresses (a cached address the policy no
// longer allows is refused), and after the TTL a new answer is checked:
// one that moved to a private address is refused, nothing dialed.
func TestDialerCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		res := &fakeResolver{answers: map[string][][]string{
			"api.example.com": {{"8.8.8.8"}, {"10.0.0.1"}},
		}}
		g := &guardDialer{t: t, expect: map[string]bool{"8.8.8.8:443": true}}
		var deny []netip.Prefix
		d := &Dialer{Resolver: res, Dialer: g, CacheTTL: 10 * time.Second, Policy: func(string) (*Policy, error) {
			return &Policy{DenyPrefixes: deny}, nil
		}}
		for range 3 {
			c, err := d.DialContext(context.Background(), "tcp", "api.example.com:443")
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
		if n := res.calls["api.example.com"]; n != 1 {
			t.Fatalf("%d lookups within the TTL, want 1", n)
		}
		deny = []netip.Prefix{netip.MustParsePrefix("8.8.8.0/24")}
		if _, err := d.DialContext(context.Background(), "tcp", "api.example.com:443"); !errors.Is(err, ErrRefused) {
			t.Fatalf("cached address under a new deny prefix: %v, want refused", err)
		}
		deny = nil
		time.Sleep(10 * time.Second)
		if _, err := d.DialContext(context.Background(), "tcp", "api.example.com:443"); !errors.Is(err, ErrRefused) {
			t.Fatalf("after the TTL the name resolves to 10.0.0.1: %v, want refused", err)
		}
		if n := res.calls["api.example.com"]; n != 2 {
			t.Fatalf("%d lookups after the TTL, want 2", n)
		}
		if fmt.Sprint(g.dialed) != "[8.8.8.8:443 8.8.8.8:443 8.8.8.8:443]" {
			t.Fatalf("dialed %v", g.dialed)
		}
	})
}

// TestDialerCacheBounded: the cache never holds more than maxCached names.
func TestDialerCacheBounded(t *testing.T) {
	answers := map[string][][]string{}
	for i := range maxCached + 10 {
		answers[fmt.Sprintf("h%d.example.com", i)] = [][]string{{"8.8.8.8"}}
	}
	d := &Dialer{Resolver: &fakeResolver{answers: answers}, CacheTTL: time.Hour,
		Policy: func(string) (*Policy, error) { return &Policy{}, nil }}
	for name := range answers {
		if _, err := d.Resolve(context.Background(), "tcp", name+":443"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(d.cache); n > maxCached {
		t.Fatalf("cache holds %d names, want at most %d", n, maxCached)
	}
}

func TestDialerBadInput(t *testing.T) {
	g := &guardDialer{t: t}
	d := &Dialer{Resolver: &fakeResolver{}, Dialer: g, Policy: func(string) (*Policy, error) { return &Policy{}, nil }}
	for _, tt := range []struct{ network, addr string }{
		{"udp", "8.8.8.8:53"}, {"tcp", "8.8.8.8"}, {"tcp", "8.8.8.8:0"}, {"tcp", "8.8.8.8:http"},
		{"tcp", "8.8.8.8:70000"}, {"tcp", "nowhere.example.com:443"},
	} {
		if _, err := d.DialContext(context.Background(), tt.network, tt.addr); err == nil {
			t.Errorf("DialContext(%s, %s) succeeded", tt.network, tt.addr)
		}
	}
	if _, err := (&Dialer{Dialer: g}).DialContext(context.Background(), "tcp", "8.8.8.8:443"); !errors.Is(err, ErrRefused) {
		t.Errorf("nil Policy: %v, want refused", err)
	}
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{"8.8.8.8:443", "[::ffff:127.0.0.1]:80", "x:1", "[fe80::1%25lo]:1", ":", "a:b:c"} {
		f.Add(s)
	}
	d := &Dialer{Resolver: &fakeResolver{answers: map[string][][]string{"x": {{"127.0.0.1"}}}},
		Policy: func(string) (*Policy, error) { return &Policy{}, nil }}
	f.Fuzz(func(t *testing.T, addr string) {
		aps, err := d.Resolve(context.Background(), "tcp", addr)
		if err != nil {
			return
		}
		for _, ap := range aps {
			if c := Classify(ap.Addr()); c != Public {
				t.Fatalf("Resolve(%q) passed %s of class %v", addr, ap, c)
			}
		}
	})
}
