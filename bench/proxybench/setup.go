package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startNginx runs nginx as a plain reverse proxy to upAddr on ngAddr.
func startNginx(bin, dir, upAddr, ngAddr string, logTo io.Writer) (*proc, error) {
	conf := fmt.Sprintf(`worker_processes 1; daemon off; pid %[1]s/nginx.pid; error_log %[1]s/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  upstream up { server %[2]s; keepalive 128; }
  server { listen %[3]s; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`, dir, upAddr, ngAddr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, _, err := start("nginx", exec.Command(bin, "-p", dir, "-c", path), logTo, "")
	return p, err
}

// sluiceConfig is the proxy's configuration: the full pipeline on one
// route (a limit far above the load, quota learning, and the default
// retries and breaker), client token auth, base-URL mode.
func sluiceConfig(listen, admin, upAddr string, accessLog bool) string {
	limits := "    limits: [{rate: 1000000/s, burst: 100000}]\n"
	if os.Getenv("PB_NOLIMIT") != "" {
		limits = "    limits: []\n"
	}
	quota := ""
	if os.Getenv("PB_NOQUOTA") != "" {
		quota = "    quota: {disabled: true}\n"
	}
	proxyExtra := ""
	if !accessLog {
		proxyExtra = "  access_log: false\n"
	}
	return fmt.Sprintf(`routes:
  - name: up
    match: {host: 127.0.0.1}
%s%sproxy:
  listen: %s
  admin: %s
  consumers: [{name: bench, token_env: PROXYBENCH_TOKEN}]
  upstreams: [{name: up, prefix: /up, target: "http://%s", allow: [loopback]}]
%s`, limits, quota, listen, admin, upAddr, proxyExtra)
}

// startSluice writes the configuration and starts `sluice proxy` (or, with
// -profile, this binary's -role sluice), with its access log on or off. It returns the proxy's address
// and, with -profile, the pprof address.
func startSluice(o opts, self, dir, upAddr string, accessLog bool, logTo io.Writer) (*proc, string, string, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, "", "", err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, "", "", err
	}
	cfgPath := filepath.Join(dir, fmt.Sprintf("sluice-%s-accesslog-%v.yaml", filepath.Base(o.sluice), accessLog))
	if err := os.WriteFile(cfgPath, []byte(sluiceConfig(listen, admin, upAddr, accessLog)), 0o644); err != nil {
		return nil, "", "", err
	}
	var cmd *exec.Cmd
	pprofAddr := ""
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return nil, "", "", err
		}
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, "", "", err
		}
		cmd = exec.Command(self, "-role", "sluice", "-config", cfgPath, "-pprof", pprofAddr)
	} else {
		cmd = exec.Command(o.sluice, "proxy", "-config", cfgPath)
	}
	cmd.Env = append(os.Environ(), "PROXYBENCH_TOKEN=bench-token")
	if v := os.Getenv("PB_SLUICE_GOGC"); v != "" {
		cmd.Env = append(cmd.Env, "GOGC="+v) // sluice's only, not the other Go processes'
	}
	p, _, err := start("sluice", cmd, logTo, "sluice proxy: listening on ")
	if err != nil {
		return nil, "", "", err
	}
	return p, listen, pprofAddr, nil
}

// buildSluice builds cmd/sluice of the repository this bench belongs to.
func buildSluice(dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin, nil
}

// repoRoot walks up from the working directory to the sluice module.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/sluicehq/sluice\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("run from inside the sluice repository (or pass -sluice BIN)")
		}
		d = parent
	}
}

// profile starts a CPU profile of dur on the pprof server and returns a
// function that waits for it and saves it, with the block and mutex
// profiles and the allocations since start, as
// prefix.{cpu,block,mutex,allocs}.pprof.
func profile(addr string, dur time.Duration, prefix string) func() error {
	cpu := make(chan error, 1)
	go func() {
		cpu <- save(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(dur.Seconds())), prefix+".cpu.pprof")
	}()
	return func() error {
		if err := <-cpu; err != nil {
			return err
		}
		for _, k := range []string{"block", "mutex", "allocs"} {
			if err := save("http://"+addr+"/debug/pprof/"+k, prefix+"."+k+".pprof"); err != nil {
				return err
			}
		}
		return nil
	}
}

func save(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return os.WriteFile(path, b, 0o644)
}

// cpuStat is the first line of /proc/stat, in ticks.
type cpuStat struct{ busy, all int64 }

func readStat() cpuStat {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var s cpuStat
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal
			s.all += n
			if i != 3 && i != 4 {
				s.busy += n
			}
		}
	}
	return s
}

func (s cpuStat) busyFrac(before cpuStat) float64 {
	if s.all == before.all {
		return 0
	}
	return float64(s.busy-before.busy) / float64(s.all-before.all)
}

// total is the CPU seconds the machine had between before and s.
func (s cpuStat) total(before cpuStat) float64 {
	return float64(s.all-before.all) / clkTck
}
