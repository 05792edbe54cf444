package egress_test

import (
	"fmt"
	"net/netip"

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
