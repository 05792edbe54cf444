package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/proxy"
)

// The bench re-runs its own binary for the processes that are not the
// load generator: -role upstream (the Go upstream), -role goproxy (Go's
// own httputil.ReverseProxy, a floor for any proxy built on net/http) and
// -role sluice (the same proxy as `sluice proxy`, built in, with pprof;
// used only by -profile, never for the figures).

var body = []byte(`{"ok":true,"pad":"0123456789012345678901234567890123456789"}` + "\n")

// upstreamRole serves 64 bytes on a free loopback port until SIGTERM;
// GET /_conns answers the number of connections accepted so far.
func upstreamRole() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var conns atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_conns" {
			io.WriteString(w, strconv.FormatInt(conns.Load(), 10))
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}), ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}}
	go srv.Serve(ln)
	fmt.Printf("listening %s\n", ln.Addr())
	waitSignal()
	return srv.Close()
}

// goproxyRole runs httputil.ReverseProxy to target on a free loopback
// port until SIGTERM, with upstream keep-alive as nginx has it.
func goproxyRole(target string) error {
	u, err := url.Parse("http://" + target)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rp := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport:  &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, DisableCompression: true},
		BufferPool: &bufPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	fmt.Printf("listening %s\n", ln.Addr())
	waitSignal()
	return srv.Close()
}

// bufPool is an httputil.BufferPool (without one, ReverseProxy allocates
// 32 KiB per request).
type bufPool struct{ p sync.Pool }

func (b *bufPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufPool) Put(x []byte) { b.p.Put(&x) }

// sluiceRole runs the proxy from a configuration file like `sluice proxy`
// does (JSON access log to stderr, redacted) and serves net/http/pprof on
// pprofAddr, with block and mutex profiling on.
func sluiceRole(config, pprofAddr string) error {
	cfg, err := proxy.LoadFile(config)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	var memo redact.KeyMemo
	cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{ReplaceAttr: memo.ReplaceAttr}))
	cfg.AccessLogWriter = os.Stderr // as the binary writes it, but a write per line
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil {
		cfg.Self = []netip.AddrPort{ap}
	}
	h, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	runtime.SetBlockProfileRate(10_000) // one event per 10 µs blocked
	runtime.SetMutexProfileFraction(10)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	pln, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		return err
	}
	go http.Serve(pln, mux)
	srv := h.Server()
	go srv.Serve(ln)
	fmt.Printf("sluice proxy: listening on %s\n", ln.Addr())
	waitSignal()
	return srv.Close()
}

func waitSignal() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, os.Interrupt)
	<-c
}
