//go:build !unix

package h1

import "net"

// alive cannot look at an idle connection without blocking on this
// platform; a connection the upstream closed is found by the exchange, and
// a replayable request is re-sent.
func alive(net.Conn) bool { return true }
