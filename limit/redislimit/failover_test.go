package redislimit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/limit"
)

// Figures of the failover test, also stated in the package documentation
// and docs/config.md.
const (
	// foRecovery is how soon after the promotion every limiter must be back
	// on Redis.
	foRecovery = 2 * time.Second
	// foOvershoot is the most grants beyond the bucket's own limit (burst +
	// rate x 1s) allowed in any second around the failover: the rate times
	// the spread of the workers' return instants (at most the cluster probe
	// interval, 250ms: 12.5 units at 50/s), plus 3 for the timestamps.
	foOvershoot = 16
)

// TestClusterFailover SIGKILLs the master that holds a shared 50/s bucket
// (burst 10) while 4 clients x 8 goroutines wait on it (ExpectedWorkers 4,
// FailLocal), on a cluster of its own with one replica per master
// (cluster-node-timeout 1s). It checks that every limiter is back on Redis
// within foRecovery of the replica's promotion, that no second around the
// failover holds more than foOvershoot grants beyond the bucket's limit, and
// that no caller waited past its deadline.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 6-node Redis Cluster and kills a master")
	}
	cl := startCluster(t, 17010)
	seed := cl.ports[0]
	opts := Options{Prefix: fmt.Sprintf("fo%d", time.Now().UnixNano()), Timeout: 200 * time.Millisecond, // 2 loaded cores: a shorter one times out probes too
		ExpectedWorkers: clClients, Logger: quiet()}
	var cs []*redis.ClusterClient
	for range clClients {
		cs = append(cs, cl.client(seed, opts.Timeout))
	}
	// a bucket whose master is not the seed, so that the clients' one seed
	// survives
	var ls []*Limiter
	var master int
	for i := 0; ; i++ {
		name := fmt.Sprintf("failover%d", i)
		ls = clusterLimiters(t, cs, func(c redis.UniversalClient) (*Limiter, error) {
			return NewBucket(c, name, limit.PerSecond(50).WithBurst(10), opts)
		})
		m, err := cl.masterOf(seed, ls[0].Keys()[0])
		if err != nil {
			t.Fatal(err)
		}
		if m != seed {
			master = m
			break
		}
	}

	stop := make(chan struct{})
	var res loadResult
	var wg sync.WaitGroup
	wg.Go(func() { res = runLoadUntil(ls, stop, 500*time.Millisecond) })
	// sample the limiters' state every 5ms
	var mu sync.Mutex
	var lastDown, firstDown time.Time
	sampling := make(chan struct{})
	wg.Go(func() {
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-sampling:
				return
			case now := <-tk.C:
				for _, l := range ls {
					if l.Stats().Down {
						mu.Lock()
						if firstDown.IsZero() {
							firstDown = now
						}
						lastDown = now
						mu.Unlock()
						break
					}
				}
			}
		}
	})
	time.Sleep(1500 * time.Millisecond) // steady state first
	killed := time.Now()
	cl.nodes[master].kill() // SIGKILL
	// the promotion: a live node serves the slot from another master
	var promoted time.Time
	for deadline := killed.Add(15 * time.Second); ; {
		if m, err := cl.masterOf(seed, ls[0].Keys()[0]); err == nil && m != master {
			promoted = time.Now()
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			close(sampling)
			wg.Wait()
			t.Fatal("no replica promoted 15s after the master was killed")
		}
		time.Sleep(20 * time.Millisecond) // polling another process: no event to wait on
	}
	time.Sleep(3 * time.Second) // recovery and the second after it
	close(stop)
	close(sampling)
	wg.Wait()

	var st Stats
	for _, l := range ls {
		s := l.Stats()
		if s.Down {
			t.Errorf("%+v: still on the failure policy 3s after the promotion", s)
		}
		st.Fallbacks += s.Fallbacks
		st.Outages += s.Outages
		st.Repaid += s.Repaid
		st.Errors += s.Errors
	}
	recovered := lastDown.Sub(promoted)
	t.Logf("promoted %v after the kill; limiters down from %v after the kill to %v after the promotion",
		promoted.Sub(killed).Round(time.Millisecond), firstDown.Sub(killed).Round(time.Millisecond), recovered.Round(time.Millisecond))
	t.Logf("longest process stall %v", res.stall)
	t.Logf("%d grants, %d calls; %d fallback decisions, %d outages, %d errors, %d units repaid", len(res.grants), res.calls,
		st.Fallbacks, st.Outages, st.Errors, st.Repaid)
	if recovered > foRecovery {
		t.Errorf("limiters back on Redis %v after the promotion, want within %v", recovered, foRecovery)
	}
	if !res.lateOK() {
		t.Errorf("%d callers waited past their deadline (longest process stall %v)", res.late, res.stall)
	} else if res.late != 0 {
		t.Logf("%d callers late, the process stalled %v (a loaded machine): not counted", res.late, res.stall)
	}
	n, at := maxIn(res.grants, time.Second-25*time.Millisecond)
	over := n - 60
	t.Logf("most grants in a second: %d from %v after the kill (limit 60: burst 10 + 50/s); overshoot %d",
		n, at.Sub(killed).Round(time.Millisecond), max(over, 0))
	for _, p := range []struct {
		name string
		from time.Time
	}{{"kill", killed}, {"promotion", promoted}, {"recovery", lastDown}} {
		k := 0
		for _, g := range res.grants {
			if !g.Before(p.from) && g.Before(p.from.Add(time.Second)) {
				k++
			}
		}
		t.Logf("grants in the second after the %s: %d", p.name, k)
	}
	if over > foOvershoot && res.stall > 100*time.Millisecond {
		// a stalled process returns late, widening the spread of return
		// instants the bound is made of
		t.Logf("%d grants in a second (%d beyond the limit, bound %d) with a %v process stall: not counted", n, over, foOvershoot, res.stall)
	} else if over > foOvershoot {
		t.Errorf("%d grants in the second from %v: %d beyond the limit, bound %d", n, at.Format("15:04:05.000"), over, foOvershoot)
	}
}
