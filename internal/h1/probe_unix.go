//go:build unix

package h1

import (
	"net"
	"syscall"
)

// alive reports whether an idle connection is still open and silent: one
// non-blocking read (the socket is non-blocking under Go's poller) that
// must find nothing to read. End of stream, an error or unsolicited bytes
// all mean the connection must not carry another request.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, rerr := syscall.Read(int(fd), buf[:])
		ok = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true // never wait for readiness
	})
	return err == nil && ok
}
