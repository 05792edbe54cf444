package redislimit

import "syscall"

// childAttr makes a redis-server of a test die with the test process, so a
// test binary killed by a timeout leaves no server on its ports.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
