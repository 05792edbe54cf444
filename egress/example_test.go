package egress_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/egress"
)

func ExampleClassify() {
	for _, s := range []string{"140.82.112.3", "169.254.169.254", "::ffff:10.0.0.1", "100.64.0.1"} {
		fmt.Println(s, egress.Classify(netip.MustParseAddr(s)))
	}
	// Output:
	// 140.82.112.3 public
	// 169.254.169.254 link-local
	// ::ffff:10.0.0.1 embedded-ipv4
	// 100.64.0.1 cgnat
}

func ExamplePolicy_Check() {
	p := egress.Policy{Allow: []egress.Class{egress.Loopback}}
	fmt.Println(p.Check("localhost", netip.MustParseAddrPort("127.0.0.1:9000")))
	fmt.Println(p.Check("metadata", netip.MustParseAddrPort("169.254.169.254:80")))
	// Output:
	// <nil>
	// egress: metadata (169.254.169.254): address class link-local not allowed
}

// staticResolver answers every name with one address (an example must not
// send DNS queries).
type staticResolver string

func (r staticResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr(string(r))}, nil
}

// A Dialer for http.Transport.DialContext: only api.example.com may be
// reached, its answer is kept 30 s for new connections, and every dial
// checks the address it is about to use.
func ExampleDialer() {
	d := &egress.Dialer{
		Resolver: staticResolver("10.0.0.7"), // a private address
		CacheTTL: 30 * time.Second,
		Policy: func(host string) (*egress.Policy, error) {
			if host != "api.example.com" {
				return nil, &egress.RefusedError{Host: host, Reason: "host not allowed"}
			}
			return &egress.Policy{}, nil // public addresses only
		},
	}
	_, err := d.Resolve(context.Background(), "tcp", "api.example.com:443")
	fmt.Println(err)
	_, err = d.Resolve(context.Background(), "tcp", "other.example.com:443")
	fmt.Println(err)
	// Output:
	// egress: api.example.com (10.0.0.7): address class private not allowed
	// egress: other.example.com: host not allowed
}
