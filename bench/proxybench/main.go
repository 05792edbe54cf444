// Command proxybench measures the latency the sluice proxy adds and its peak
// throughput beside nginx as a plain reverse proxy, in one run, with the same
// upstream and the same load generator:
//
//	go run ./proxybench [-rate 1000] [-dur 5s] [-conns 64] [-nginx /usr/sbin/nginx]
//
// The upstream is a Go net/http server answering 64 bytes. Three paths are
// measured: direct to the upstream, through nginx (proxy_pass, upstream
// keepalive), and through sluice proxy in base-URL mode with the full
// pipeline on (a route with a limit far above the load, quota learning,
// retries, breaker, client auth). Added latency is the path's percentile
// minus the direct path's.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/proxy"
)

func main() {
	rate := flag.Int("rate", 1000, "fixed request rate for the latency test")
	dur := flag.Duration("dur", 5*time.Second, "length of each measurement")
	conns := flag.Int("conns", 64, "connections for the peak test")
	nginx := flag.String("nginx", "/usr/sbin/nginx", "nginx binary")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the sluice peak run to this file")
	flag.Parse()
	if err := run(*rate, *dur, *conns, *nginx); err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

var upConns atomic.Int64

var cpuProfile string

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return ln
}

func run(rate int, dur time.Duration, conns int, nginxBin string) error {
	body := []byte(`{"ok":true,"pad":"0123456789012345678901234567890123456789"}` + "\n")
	upLn := listen()
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})}
	up.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			upConns.Add(1)
		}
	}
	go up.Serve(upLn)
	defer up.Close()
	upURL := "http://" + upLn.Addr().String()

	// nginx as a plain reverse proxy.
	dir, err := os.MkdirTemp("", "proxybench-nginx")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ngLn := listen()
	ngAddr := ngLn.Addr().String()
	ngLn.Close()
	conf := fmt.Sprintf(`worker_processes 1; daemon off; pid %[1]s/nginx.pid; error_log %[1]s/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  upstream up { server %[2]s; keepalive 128; }
  server { listen %[3]s; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`, dir, upLn.Addr().String(), ngAddr)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	ng := exec.Command(nginxBin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	ng.Stderr = os.Stderr
	if err := ng.Start(); err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	defer func() { ng.Process.Kill(); ng.Wait() }()

	// sluice proxy, full pipeline.
	os.Setenv("PROXYBENCH_TOKEN", "bench-token")
	h, err := proxy.New(proxy.Config{
		Upstreams: []proxy.Upstream{{Name: "up", Prefix: "/up", Target: upURL, Allow: []string{"loopback"}}},
		Consumers: []proxy.Consumer{{Name: "bench", TokenEnv: "PROXYBENCH_TOKEN"}},
		Pipeline: sluice.Config{Routes: []sluice.Route{{Name: "up", Match: sluice.Match{Host: "127.0.0.1"},
			Policy: sluice.Policy{Limits: limits(), Quota: quotaCfg()}}}},
	})
	if err != nil {
		return err
	}
	defer h.Close()
	slLn := listen()
	sl := h.Server()
	go sl.Serve(slLn)
	defer sl.Close()

	targets := []struct{ name, url string }{
		{"direct", upURL + "/x"},
		{"nginx", "http://" + ngAddr + "/x"},
		{"sluice proxy", "http://" + slLn.Addr().String() + "/up/x"},
	}
	if err := waitUp(targets[1].url); err != nil {
		return err
	}
	fmt.Printf("fixed rate %d/s for %v, then peak with %d connections for %v; GOMAXPROCS=%d\n\n", rate, dur, conns, dur, runtimeProcs())
	fmt.Printf("| path | p50 | p99 | p50 added | p99 added | errors | peak req/s | vs nginx |\n|---|---|---|---|---|---|---|---|\n")
	var base [2]time.Duration
	var ngPeak float64
	for i, tg := range targets {
		p50, p99, errs := fixedRate(tg.url, rate, dur)
		if cpuProfile != "" && tg.name == "sluice proxy" {
			f, _ := os.Create(cpuProfile)
			pprof.StartCPUProfile(f)
			runtime.SetBlockProfileRate(10000)
		}
		peak := closedLoop(tg.url, conns, dur)
		if cpuProfile != "" && tg.name == "sluice proxy" {
			pprof.StopCPUProfile()
			bf, _ := os.Create(cpuProfile + ".block")
			pprof.Lookup("block").WriteTo(bf, 0)
			bf.Close()
		}
		if i == 0 {
			base = [2]time.Duration{p50, p99}
		}
		if tg.name == "nginx" {
			ngPeak = peak
		}
		ratio := "-"
		if ngPeak > 0 && tg.name != "direct" {
			ratio = fmt.Sprintf("%.2fx", peak/ngPeak)
		}
		fmt.Fprintf(os.Stderr, "%s: upstream connections so far %d\n", tg.name, upConns.Load())
		fmt.Printf("| %s | %s | %s | %s | %s | %d | %.0f | %s |\n", tg.name, ms(p50), ms(p99), ms(p50-base[0]), ms(p99-base[1]), errs, peak, ratio)
	}
	return nil
}

func runtimeProcs() int { return int(envProcs()) }

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

func newClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n, DisableCompression: true}, Timeout: 10 * time.Second}
}

func get(c *http.Client, url string) error {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer bench-token")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func waitUp(url string) error {
	c := newClient(1)
	for i := 0; i < 100; i++ {
		if err := get(c, url); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s never answered", url)
}

// fixedRate sends rate requests per second (open loop: each at its
// scheduled instant) and returns the p50 and p99 latency, measured from
// the scheduled instant so queueing in the generator counts.
func fixedRate(url string, rate int, dur time.Duration) (p50, p99 time.Duration, errs int64) {
	c := newClient(256)
	for range 50 { // warm connections
		get(c, url)
	}
	n := int(float64(rate) * dur.Seconds())
	lat := make([]time.Duration, n)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := get(c, url); err != nil {
				bad.Add(1)
			}
			lat[i] = time.Since(at)
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	c.CloseIdleConnections()
	return lat[n/2], lat[n*99/100], bad.Load()
}

// closedLoop runs conns workers back to back for dur and returns req/s.
func closedLoop(url string, conns int, dur time.Duration) float64 {
	c := newClient(conns)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				if get(c, url) == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	c.CloseIdleConnections()
	return float64(done.Load()) / time.Since(start).Seconds()
}
