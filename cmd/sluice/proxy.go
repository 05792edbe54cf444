package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"os"
	"os/signal"

	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/proxy"
)

// proxyCmd runs `sluice proxy -config FILE` until ctx ends or SIGTERM
// arrives (drain, then exit), reloading on SIGHUP.
func proxyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return serveProxy(ctx, args, stdout, stderr, sigs)
}

// live is the proxy listener's handler: the current Handler, swapped
// atomically on reload.
type live struct{ cur atomic.Pointer[proxy.Handler] }

func (l *live) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.cur.Load().ServeHTTP(w, r) }

func serveProxy(ctx context.Context, args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	fs := flag.NewFlagSet("sluice proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file with a proxy: section (required)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: sluice proxy -config FILE")
		return 2
	}
	lw := newLogWriter(stderr, 100*time.Millisecond) // batched: no write per request
	defer lw.Close()
	var memo redact.KeyMemo // the events repeat their keys
	logger := slog.New(slog.NewJSONHandler(lw, &slog.HandlerOptions{ReplaceAttr: memo.ReplaceAttr}))
	cfg, err := proxy.LoadFile(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", orDefault(cfg.Listen, "127.0.0.1:8080"))
	if err != nil {
		fmt.Fprintln(stderr, "sluice proxy:", err)
		return 1
	}
	aln, err := net.Listen("tcp", orDefault(cfg.Admin, "127.0.0.1:9090"))
	if err != nil {
		ln.Close()
		fmt.Fprintln(stderr, "sluice proxy: admin:", err)
		return 1
	}
	self := []netip.AddrPort{}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil {
		self = append(self, ap, netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()))
	}
	build := func(c proxy.Config) (*proxy.Handler, error) {
		c.Logger, c.AccessLogWriter, c.Self = logger, lw, self
		return proxy.New(c)
	}
	h, err := build(cfg)
	if err != nil {
		ln.Close()
		aln.Close()
		fmt.Fprintln(stderr, err)
		return 1
	}
	var l live
	l.cur.Store(h)
	srv := h.Server()
	srv.Handler = &l
	admin := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.cur.Load().Admin().ServeHTTP(w, r)
	})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	go func() { defer wg.Done(); _ = admin.Serve(aln) }()
	fmt.Fprintf(stdout, "sluice proxy: listening on %s, admin on %s (status page http://%s/status)\n", ln.Addr(), aln.Addr(), aln.Addr())

	var retired sync.WaitGroup // old handlers closing after a reload
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case s := <-sigs:
			if s != syscall.SIGHUP {
				break loop
			}
			nc, err := proxy.LoadFile(*path)
			if err == nil && (orDefault(nc.Listen, "127.0.0.1:8080") != orDefault(cfg.Listen, "127.0.0.1:8080") || orDefault(nc.Admin, "127.0.0.1:9090") != orDefault(cfg.Admin, "127.0.0.1:9090")) {
				err = errors.New("listen and admin addresses cannot change on reload; restart to move them")
			}
			var nh *proxy.Handler
			if err == nil {
				nh, err = build(nc)
			}
			if err != nil {
				logger.Error("reload failed; keeping the running configuration", "error", err.Error())
				continue
			}
			old := l.cur.Swap(nh)
			logger.Info("reloaded", "config", *path)
			retired.Add(1)
			go func() { defer retired.Done(); retire(old, old.Config().DrainTimeout) }()
		}
	}
	cur := l.cur.Load()
	cur.Drain()
	dctx, cancel := context.WithTimeout(context.Background(), cur.Config().DrainTimeout)
	defer cancel()
	err = srv.Shutdown(dctx)
	_ = admin.Shutdown(dctx)
	if err != nil {
		_ = srv.Close()
	}
	wg.Wait()
	cur.Close()
	retired.Wait()
	logger.Info("stopped")
	return 0
}

// retire closes a handler replaced by a reload once its requests end, or
// after d.
func retire(h *proxy.Handler, d time.Duration) {
	deadline := time.Now().Add(d)
	for h.InFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	h.Close()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
