package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// pipeServer is a DialContext whose connections are in-memory pipes to a
// server goroutine answering "ok" to every request; closed counts the
// connections the client side closed.
type pipeServer struct{ dials, closed atomic.Int64 }

func (p *pipeServer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	p.dials.Add(1)
	cli, srv := net.Pipe()
	go func() {
		defer srv.Close()
		br := bufio.NewReader(srv)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				p.closed.Add(1)
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(srv, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}()
	return cli, nil
}

func TestIdleTimeoutPrunes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps := &pipeServer{}
		tr := &Transport{DialContext: ps.dial, IdleTimeout: 10 * time.Second, probeAfter: -1}
		defer tr.Close()
		get := func() {
			req, _ := http.NewRequest("GET", "http://up.test/", nil)
			do(t, tr, req)
		}
		get()
		time.Sleep(5 * time.Second)
		get() // reused: idle 5 s < 10 s
		synctest.Wait()
		if ps.dials.Load() != 1 || ps.closed.Load() != 0 {
			t.Fatalf("dials %d closed %d after reuse within the timeout; want 1 and 0", ps.dials.Load(), ps.closed.Load())
		}
		time.Sleep(11 * time.Second) // the timer closes it
		synctest.Wait()
		if ps.closed.Load() != 1 {
			t.Fatalf("closed %d 11 s idle; want 1", ps.closed.Load())
		}
		tr.mu.Lock()
		n := tr.nidle
		tr.mu.Unlock()
		if n != 0 {
			t.Errorf("%d idle after the prune", n)
		}
		get()
		if ps.dials.Load() != 2 {
			t.Errorf("dials %d; want a fresh connection after the prune", ps.dials.Load())
		}
	})
}

// TestMaxIdleOverAllHosts: the idle pool is bounded over all hosts, not
// only per host (net/http's MaxIdleConns, which the proxy set to 1024).
func TestMaxIdleOverAllHosts(t *testing.T) {
	srv, conns := counted(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) })
	tr := newTransport(t)
	tr.MaxIdle = 1
	for _, host := range []string{"127.0.0.1", "localhost"} { // two pool keys
		req, _ := http.NewRequest("GET", strings.Replace(srv.URL, "127.0.0.1", host, 1), nil)
		do(t, tr, req)
	}
	tr.mu.Lock()
	n := tr.nidle
	tr.mu.Unlock()
	if n != 1 || conns.Load() != 2 {
		t.Errorf("%d idle of %d connections to two hosts; want 1 of 2", n, conns.Load())
	}
}
