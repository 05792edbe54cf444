package redislimit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/limit"
)

// server is a redis-server process of the test's own, on a free port.
type server struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
	out  bytes.Buffer
}

// startServer starts redis-server on a free loopback port, without
// persistence, and waits until it answers. It skips the test when the
// binary is missing (fails under SLUICE_REQUIRE_REDIS=1).
func startServer(t *testing.T, port int) *server {
	t.Helper()
	return startServerArgs(t, port)
}

// startServerArgs is startServer with more redis-server arguments.
func startServerArgs(t *testing.T, port int, args ...string) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("SLUICE_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server not found")
		}
		t.Skip("redis-server not found: failure tests need a server they can stop")
	}
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	s := &server{t: t, port: port}
	// --dir: a replica writes the RDB its master sends (the Sentinel
	// test's does) to its working directory, this package's, unless told
	// otherwise; args may name another dir (the last one given wins).
	s.cmd = exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir()}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.SysProcAttr = childAttr()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kill)
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s
		}
		if i == 100 {
			t.Fatalf("redis-server on %d does not answer: %v\n%s", port, err, s.out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling a child process start-up: no event to wait on
	}
}

func (s *server) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// kill ends the server (SIGCONT first, in case it was stopped).
func (s *server) kill() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

func (s *server) signal(sig syscall.Signal) {
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// client returns a client for s; ctxTimeouts selects ContextTimeoutEnabled.
func (s *server) client(ctxTimeouts bool) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  s.addr(),
		ContextTimeoutEnabled: ctxTimeouts,
		MaxRetries:            -1,
		DialTimeout:           100 * time.Millisecond,
	})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// stepClock is a local clock a test moves by hand (Redis keeps real time).
type stepClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// TestFailurePolicies kills Redis under a limiter, checks each policy's
// decisions, the log lines and Stats, then restarts Redis on the same port
// and checks that the limiter returns to it after the probe interval.
func TestFailurePolicies(t *testing.T) {
	tests := []struct {
		policy      FailurePolicy
		wantAllowed int // of 20 Allow calls while Redis is down
		wantErr     error
	}{
		// 100/s burst 10 over 2 expected workers: a local burst of 5, but
		// the fallback starts drained (nothing on top of what Redis
		// granted), and 20 calls in well under 20ms get none of the 50/s
		{FailLocal, 0, nil},
		{FailDeny, 0, ErrUnavailable},
		{FailAllow, 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			srv := startServer(t, 0)
			var logs syncBuffer
			clk := &stepClock{}
			l, err := NewBucket(srv.client(true), "api", limit.PerSecond(100).WithBurst(10), Options{
				OnFailure:       tt.policy,
				ExpectedWorkers: 2,
				ProbeInterval:   time.Hour, // moved by clk, not by the restart's real time
				// Calls to a killed server fail at once; a long timeout keeps
				// a loaded machine from failing the calls to the live one.
				Timeout: time.Second,
				Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			l.clock = clk.Now
			if tt.policy == FailLocal && l.fallback == nil {
				t.Skip("no local fallback yet: limit.NewBucket has not landed")
			}
			ctx := context.Background()
			if r, err := l.Allow(ctx, 1); err != nil || !r.Allowed {
				t.Fatalf("with redis up: %+v, %v", r, err)
			}
			srv.kill()
			allowed := 0
			downAt := time.Now()
			for i := range 20 {
				start := time.Now()
				r, err := l.Allow(ctx, 1)
				if took := time.Since(start); took > l.opts.Timeout+loadSlack {
					t.Errorf("Allow #%d took %v with redis down, timeout %v", i, took, l.opts.Timeout)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Allow #%d error %v, want %v", i, err, tt.wantErr)
				}
				if r.Allowed {
					allowed++
				}
			}
			slack := 0
			if tt.policy == FailLocal { // the drained fallback grants one per 20ms
				slack = int(time.Since(downAt) / (20 * time.Millisecond))
			}
			if allowed < tt.wantAllowed || allowed > tt.wantAllowed+slack {
				t.Errorf("%d of 20 allowed while down, want %d (+%d for the time the calls took)", allowed, tt.wantAllowed, slack)
			}
			st := l.Stats()
			if !st.Down || st.Outages != 1 || st.Fallbacks != 20 || st.Errors != 1 {
				t.Errorf("stats while down %+v, want down, 1 outage, 20 fallbacks, 1 error (later calls wait for the probe)", st)
			}
			if n := strings.Count(logs.String(), "failure policy engaged"); n != 1 {
				t.Errorf("engaged logged %d times, want once:\n%s", n, logs.String())
			}

			startServer(t, srv.port)
			if _, err := l.Allow(ctx, 1); !errors.Is(err, tt.wantErr) || !l.Stats().Down {
				t.Errorf("before the probe interval: %v, down %v; want the policy still", err, l.Stats().Down)
			}
			clk.Advance(time.Hour)
			if r, err := l.Allow(ctx, 1); err != nil || !r.Allowed {
				t.Errorf("after the probe interval: %+v, %v; want allowed by redis", r, err)
			}
			if st := l.Stats(); st.Down || st.Outages != 1 {
				t.Errorf("stats after recovery %+v", st)
			}
			if n := strings.Count(logs.String(), "redis answers again"); n != 1 {
				t.Errorf("recovery logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

// loadSlack is what the failure tests tolerate beyond Options.Timeout for
// scheduling on a loaded 2-core machine under -race (seen: up to 130ms at
// load 8; the test is not meaningful at much higher loads).
// A call that waited for the hung server instead would take the client's
// read timeout (3s by default) or forever.
const loadSlack = 250 * time.Millisecond

// TestHungRedis stops (SIGSTOP) the server while 8 goroutines make
// decisions, with clients that do and do not honour context deadlines, and
// checks that no call takes much longer than the timeout.
func TestHungRedis(t *testing.T) {
	for _, ctxTimeouts := range []bool{true, false} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", ctxTimeouts), func(t *testing.T) {
			srv := startServer(t, 0)
			l, err := NewBucket(srv.client(ctxTimeouts), "api", limit.PerSecond(1000), Options{
				OnFailure: FailAllow,
				Logger:    quiet(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if l.guard == ctxTimeouts {
				t.Fatalf("guard %v with ContextTimeoutEnabled %v", l.guard, ctxTimeouts)
			}
			ctx := context.Background()
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				slowest time.Duration
			)
			stop := make(chan struct{})
			for g := range 8 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						start := time.Now()
						var err error
						switch (g + i) % 3 {
						case 0:
							_, err = l.Allow(ctx, 1)
						case 1:
							_, err = l.Reserve(ctx, 1)
						default:
							err = l.Wait(ctx, 1)
						}
						if err != nil {
							t.Errorf("call failed under FailAllow: %v", err)
							return
						}
						took := time.Since(start)
						mu.Lock()
						slowest = max(slowest, took)
						mu.Unlock()
						time.Sleep(time.Millisecond) // the request's own work; keeps the CPU for the timers
					}
				})
			}
			time.Sleep(50 * time.Millisecond) // let them run against a live server
			srv.signal(syscall.SIGSTOP)
			time.Sleep(300 * time.Millisecond) // run against the hung server
			close(stop)
			wg.Wait()
			srv.signal(syscall.SIGCONT)
			_ = l.Close()
			st := l.Stats()
			t.Logf("slowest call %v; stats %+v", slowest, st)
			if st.Outages != 1 || st.Fallbacks == 0 {
				t.Errorf("stats %+v: want one outage and fallbacks", st)
			}
			if slowest > l.opts.Timeout+loadSlack {
				t.Errorf("slowest call took %v, timeout %v", slowest, l.opts.Timeout)
			}
		})
	}
}

// TestLocalFallbackFollows checks the FailLocal fallback of a window
// limiter (the windows divided among the workers) and that SetRate and
// PauseUntil reach it.
func TestLocalFallbackFollows(t *testing.T) {
	srv := startServer(t, 0)
	l, err := NewWindow(srv.client(true), "api", []limit.Rate{limit.PerSecond(10), limit.PerMinute(15)}, Options{
		ExpectedWorkers: 2, // locally 5/s and 7/min
		Timeout:         time.Second,
		Logger:          quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.kill()
	ctx := context.Background()
	count := func() (n int) {
		for range 20 {
			if r, err := l.Allow(ctx, 1); err != nil {
				t.Fatal(err)
			} else if r.Allowed {
				n++
			}
		}
		return n
	}
	// the fallback starts drained (it holds this worker's whole share as
	// if just spent), so nothing is added to what Redis granted before
	if n := count(); n != 0 {
		t.Errorf("%d of 20 allowed by the fallback just after it engaged, want 0 (drained)", n)
	}
	if err := l.SetRate(ctx, limit.PerMinute(100)); err != nil { // locally 50/min: 43 free
		t.Fatal(err)
	}
	if err := l.SetRate(ctx, limit.PerSecond(20)); err != nil { // locally 10/s: 5 free
		t.Fatal(err)
	}
	if n := count(); n != 5 {
		t.Errorf("after SetRate(20/s, 100/min): %d more allowed, want 5 (10/s locally, 5 held by the drain)", n)
	}
	if err := l.PauseUntil(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := l.Reserve(short, 1); !errors.Is(err, limit.ErrWouldExceedDeadline) {
		t.Errorf("Reserve from the paused fallback: %v, want ErrWouldExceedDeadline", err)
	}
}
