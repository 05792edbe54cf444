//go:build !linux

package redislimit

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
