package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process the bench started, with its CPU accounting.
type proc struct {
	name string
	cmd  *exec.Cmd
}

// start runs name's command in its own process and, when marker is not
// empty, waits up to 10 s for a stdout line starting with marker and
// returns that line's rest.
func start(name string, cmd *exec.Cmd, logTo io.Writer, marker string) (*proc, string, error) {
	cmd.Stderr = logTo
	var out io.ReadCloser
	if marker != "" {
		var err error
		if out, err = cmd.StdoutPipe(); err != nil {
			return nil, "", err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd}
	if marker == "" {
		return p, "", nil
	}
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), marker); ok && !sent {
				got <- rest
				sent = true
			}
		}
		if !sent {
			close(got)
		}
	}()
	select {
	case line, ok := <-got:
		if !ok {
			p.stop()
			return nil, "", fmt.Errorf("%s exited before printing %q", name, marker)
		}
		return p, line, nil
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, "", fmt.Errorf("%s did not print %q within 10 s", name, marker)
	}
}

// stop ends the process (SIGTERM, then SIGKILL after 3 s) and reaps it.
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// cpu returns the user+system CPU time used so far by the process and its
// live children (nginx's workers), from /proc.
func (p *proc) cpu() time.Duration {
	return treeCPU(p.cmd.Process.Pid)
}

const clkTck = 100 // USER_HZ on Linux

func treeCPU(pid int) time.Duration {
	total := statCPU(pid)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if ppid(child) == pid {
			total += statCPU(child)
		}
	}
	return total
}

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func ppid(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return -1
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// statCPU is utime+stime (fields 14 and 15 of stat; 12 and 13 after the
// name).
func statCPU(pid int) time.Duration {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / clkTck
}

// selfCPU is the bench process's own CPU time (the load generator).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	a := ln.Addr().String()
	ln.Close()
	return a, nil
}
