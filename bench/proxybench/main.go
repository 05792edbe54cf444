// Command proxybench measures the latency the sluice proxy adds and its peak
// throughput beside nginx as a plain reverse proxy, in one run, with the same
// upstream and the same load generator:
//
//	go run ./proxybench [-rate 1000] [-dur 4s] [-conns 64] [-rounds 3] [-sluice BIN] [-profile DIR]
//
// Every party is its own OS process: the upstream (this binary re-run with
// -role upstream, Go net/http answering 64 bytes), nginx (proxy_pass,
// upstream keepalive, one worker, access_log off), Go's own
// httputil.ReverseProxy (-role goproxy, with a buffer pool: the floor for a
// proxy built on net/http), `sluice proxy -config FILE` twice (built once
// with go build unless -sluice names a binary; base-URL mode with the full
// pipeline on: client token auth, a route limit far above the load, quota
// learning, retries, breaker), once with its default access log and once
// with access_log: false, and this process, the load generator. Each round
// measures the direct path, then the proxies in an order that rotates by
// round: an open-loop fixed rate (latency from each request's scheduled
// instant; added latency is the path's percentile minus the direct path's
// in the same round), then conns connections back to back (peak req/s).
//
// Besides req/s, each process's CPU time is read from /proc: the CPU a proxy
// spends per request moves far less than req/s when other work shares the
// machine, and "CPU-bound peak vs nginx" is the ratio of the CPU a request
// costs all three processes (load generator, proxy, upstream) through nginx
// to the same through the proxy: the peak ratio the run would show if it
// had the cores to itself. It is derived, not measured.
//
// PB_NOLIMIT=1 drops the route limit, PB_NOQUOTA=1 turns quota learning
// off, PB_SLUICE_GOGC=N sets GOGC for the sluice processes only.
//
// -profile DIR runs the sluice side as this binary's -role sluice instead
// (the same proxy package, with net/http/pprof; its log is not batched)
// and writes CPU, block, mutex and allocation profiles of its peak runs
// into DIR; figures from such a run are not the binary's.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

func main() {
	role := flag.String("role", "", "internal: upstream, goproxy, sluice, load (64 connections to the URL in -config for 10 s) or rate (1,000 req/s to it for 10 s)")
	config := flag.String("config", "", "internal: -role sluice configuration file, -role goproxy upstream address")
	pprofAddr := flag.String("pprof", "", "internal: -role sluice pprof address")
	o := opts{}
	flag.IntVar(&o.rate, "rate", 1000, "fixed request rate for the latency test")
	flag.DurationVar(&o.dur, "dur", 4*time.Second, "length of each measurement")
	flag.IntVar(&o.conns, "conns", 64, "connections for the peak test")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of direct, nginx, sluice")
	flag.StringVar(&o.nginx, "nginx", "/usr/sbin/nginx", "nginx binary")
	flag.StringVar(&o.sluice, "sluice", "", "sluice binary (empty: go build ./cmd/sluice into a temporary directory)")
	flag.StringVar(&o.baseline, "baseline", "", "another sluice binary to measure beside (default configuration only), e.g. an older build")
	flag.StringVar(&o.profile, "profile", "", "directory for pprof profiles of the sluice side (runs it as -role sluice)")
	flag.Parse()
	var err error
	switch *role {
	case "":
		err = run(o)
	case "upstream":
		err = upstreamRole()
	case "load":
		peak, _ := closedLoop(*config, 64, 10*time.Second)
		fmt.Printf("%.0f req/s\n", peak)
	case "rate":
		p50, p99, errs, _ := fixedRate(*config, 1000, 10*time.Second)
		fmt.Printf("p50 %v p99 %v errors %d\n", p50, p99, errs)
	case "goproxy":
		err = goproxyRole(*config)
	case "sluice":
		err = sluiceRole(*config, *pprofAddr)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

type opts struct {
	rate, conns, rounds    int
	dur                    time.Duration
	nginx, sluice, profile string
	baseline               string
}

// target is one path under test and the processes whose CPU it costs.
type target struct {
	name, url string
	proxy     *proc // nil for direct
	pprof     string
}

// result is one path's figures in one round.
type result struct {
	p50, p99      time.Duration
	errs          int64
	peak          float64
	fixedCPU      time.Duration // proxy CPU per request at the fixed rate
	peakCPU       time.Duration // proxy CPU per request at peak
	upCPU, genCPU time.Duration // upstream and load generator CPU per request at peak
	busy          float64       // whole machine busy fraction during the peak run
	ours          float64       // share of the machine's CPU used by the bench's processes at peak
}

func run(o opts) error {
	dir, err := os.MkdirTemp("", "proxybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "children.log"))
	if err != nil {
		return err
	}
	defer logf.Close()

	up, upAddr, err := start("upstream", exec.Command(self, "-role", "upstream"), logf, "listening ")
	if err != nil {
		return err
	}
	defer up.stop()
	paths := []target{{name: "direct", url: "http://" + upAddr + "/x"}}

	ngAddr, err := freeAddr()
	if err != nil {
		return err
	}
	ng, err := startNginx(o.nginx, dir, upAddr, ngAddr, logf)
	if err != nil {
		return err
	}
	defer ng.stop()
	paths = append(paths, target{name: "nginx", url: "http://" + ngAddr + "/x", proxy: ng})

	gp, gpAddr, err := start("goproxy", exec.Command(self, "-role", "goproxy", "-config", upAddr), logf, "listening ")
	if err != nil {
		return err
	}
	defer gp.stop()
	paths = append(paths, target{name: "Go httputil.ReverseProxy", url: "http://" + gpAddr + "/x", proxy: gp})

	if o.sluice == "" && o.profile == "" {
		if o.sluice, err = buildSluice(dir); err != nil {
			return err
		}
	}
	for _, v := range []struct {
		name      string
		accessLog bool
	}{{"sluice proxy", true}, {"sluice proxy, access_log: false", false}} {
		sl, slAddr, pprofAddr, err := startSluice(o, self, dir, upAddr, v.accessLog, logf)
		if err != nil {
			return err
		}
		defer sl.stop()
		paths = append(paths, target{name: v.name, url: "http://" + slAddr + "/up/x", proxy: sl, pprof: pprofAddr})
	}
	if o.baseline != "" {
		bo := o
		bo.sluice, bo.profile = o.baseline, ""
		sl, slAddr, _, err := startSluice(bo, self, dir, upAddr, true, logf)
		if err != nil {
			return err
		}
		defer sl.stop()
		paths = append(paths, target{name: "sluice proxy, -baseline build", url: "http://" + slAddr + "/up/x", proxy: sl})
	}
	for _, t := range paths {
		if err := waitUp(t.url); err != nil {
			return err
		}
	}
	fmt.Printf("fixed rate %d/s for %v, then peak with %d connections for %v; %d rounds; %d CPUs; load average at start %s\n\n",
		o.rate, o.dur, o.conns, o.dur, o.rounds, runtime.NumCPU(), loadavg())
	fmt.Println("| round | path | p50 | p99 | p50 added | p99 added | errors | peak req/s | vs nginx | proxy CPU µs/req (fixed) | proxy CPU µs/req (peak) | upstream µs/req | loadgen µs/req | machine busy | bench's share |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	all := map[string][]result{}
	for round := 1; round <= o.rounds; round++ {
		// direct first, then the proxies in an order that rotates by round
		proxies := paths[1:]
		k := (round - 1) % len(proxies)
		order := append([]target{paths[0]}, append(append([]target{}, proxies[k:]...), proxies[:k]...)...)
		res := map[string]result{}
		for _, t := range order {
			r, err := measure(o, t, up, round)
			if err != nil {
				return err
			}
			res[t.name] = r
			all[t.name] = append(all[t.name], r)
		}
		base, ngr := res["direct"], res["nginx"]
		for _, t := range paths {
			r := res[t.name]
			ratio, add50, add99 := "-", "-", "-"
			if t.proxy != nil {
				ratio = fmt.Sprintf("%.2fx", r.peak/ngr.peak)
				add50, add99 = ms(r.p50-base.p50), ms(r.p99-base.p99)
			}
			fmt.Printf("| %d | %s | %s | %s | %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %.0f%% | %.0f%% |\n",
				round, t.name, ms(r.p50), ms(r.p99), add50, add99, r.errs, r.peak, ratio,
				us(r.fixedCPU, t.proxy != nil), us(r.peakCPU, t.proxy != nil), us(r.upCPU, true), us(r.genCPU, true), 100*r.busy, 100*r.ours)
		}
		fmt.Fprintf(os.Stderr, "round %d: upstream connections accepted so far: %s\n", round, upConns(upAddr))
	}
	fmt.Printf("\nover %d rounds, min / median / max:\n\n", o.rounds)
	fmt.Println("| path | peak vs nginx | p50 added (ms) | p99 added (ms) | proxy CPU µs/req at peak | CPU per request vs nginx | CPU-bound peak vs nginx |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, t := range paths[1:] {
		var ratio, p50, p99, cpu, cpuRatio, bound []float64
		for i, r := range all[t.name] {
			ng, base := all["nginx"][i], all["direct"][i]
			ratio = append(ratio, r.peak/ng.peak)
			p50 = append(p50, float64(r.p50-base.p50)/1e6)
			p99 = append(p99, float64(r.p99-base.p99)/1e6)
			cpu = append(cpu, float64(r.peakCPU)/1e3)
			if ng.peakCPU > 0 {
				cpuRatio = append(cpuRatio, float64(r.peakCPU)/float64(ng.peakCPU))
			}
			// With the cores to itself the run is CPU-bound: req/s is
			// the cores over the CPU a request costs all three processes.
			if all := r.peakCPU + r.upCPU + r.genCPU; all > 0 {
				bound = append(bound, float64(ng.peakCPU+ng.upCPU+ng.genCPU)/float64(all))
			}
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", t.name, spread(ratio, "%.2fx"), spread(p50, "%+.3f"), spread(p99, "%+.3f"),
			spread(cpu, "%.0f"), spread(cpuRatio, "%.2fx"), spread(bound, "%.2fx"))
	}
	fmt.Printf("\nload average at end %s\n", loadavg())
	return nil
}

func addedOf(rs, base []result) (p50, p99 []float64) {
	for i := range rs {
		p50 = append(p50, float64(rs[i].p50-base[i].p50)/1e6)
		p99 = append(p99, float64(rs[i].p99-base[i].p99)/1e6)
	}
	return p50, p99
}

// measure runs the fixed-rate test, then the peak test, on t.
func measure(o opts, t target, up *proc, round int) (result, error) {
	var r result
	var c0 time.Duration
	if t.proxy != nil {
		c0 = t.proxy.cpu()
	}
	var n int
	r.p50, r.p99, r.errs, n = fixedRate(t.url, o.rate, o.dur)
	if t.proxy != nil {
		r.fixedCPU = perReq(t.proxy.cpu()-c0, float64(n))
	}
	var stopProf func() error
	if o.profile != "" && t.pprof != "" {
		stopProf = profile(t.pprof, o.dur, filepath.Join(o.profile, fmt.Sprintf("round%d-%s", round, slug(t.name))))
	}
	var pc0 time.Duration
	if t.proxy != nil {
		pc0 = t.proxy.cpu()
	}
	uc0, gc0, sys0 := up.cpu(), selfCPU(), readStat()
	peak, done := closedLoop(t.url, o.conns, o.dur)
	sys1 := readStat()
	r.peak = peak
	r.upCPU = perReq(up.cpu()-uc0, float64(done))
	r.genCPU = perReq(selfCPU()-gc0, float64(done))
	ours := (up.cpu() - uc0) + (selfCPU() - gc0)
	if t.proxy != nil {
		pcpu := t.proxy.cpu() - pc0
		r.peakCPU = perReq(pcpu, float64(done))
		ours += pcpu
	}
	r.busy = sys1.busyFrac(sys0)
	if tot := sys1.total(sys0); tot > 0 {
		r.ours = ours.Seconds() / tot
	}
	if stopProf != nil {
		if err := stopProf(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// perReq is CPU time d spread over n requests.
func perReq(d time.Duration, n float64) time.Duration {
	if n == 0 {
		return 0
	}
	return time.Duration(float64(d) / n)
}

func us(d time.Duration, show bool) string {
	if !show {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(d)/1e3)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

// spread formats the min, median and max of xs.
func spread(xs []float64, format string) string {
	if len(xs) == 0 {
		return "-"
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return strings.Join([]string{fmt.Sprintf(format, s[0]), fmt.Sprintf(format, med), fmt.Sprintf(format, s[len(s)-1])}, " / ")
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// slug makes a path's name a file name.
func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}
