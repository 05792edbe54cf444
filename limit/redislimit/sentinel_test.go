package redislimit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/limit"
)

// TestSentinelFailover runs a master, a replica and three Sentinels of its
// own (ports 17020-17024), builds a limiter through NewClient in sentinel
// mode, SIGKILLs the master and checks that the limiter is back on Redis
// within 2s of the Sentinels naming the new master.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis with Sentinels and kills the master")
	}
	needBinaries(t, "redis-server")
	const base = 17020
	master := startServerArgs(t, base, "--repl-diskless-sync-delay", "0")
	startServerArgs(t, base+1, "--replicaof", "127.0.0.1", fmt.Sprint(base))
	dir := t.TempDir()
	var addrs string
	for i := 2; i < 5; i++ {
		p := base + i
		conf := fmt.Sprintf("%s/sentinel-%d.conf", dir, p)
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor m 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds m 500\nsentinel failover-timeout m 3000\n", p, base)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("redis-server", conf, "--sentinel")
		cmd.SysProcAttr = childAttr()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if addrs != "" {
			addrs += ","
		}
		addrs += fmt.Sprintf("127.0.0.1:%d", p)
	}
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", base+2), MaxRetries: -1})
	t.Cleanup(func() { _ = sentinel.Close() })
	masterAddr := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		a, err := sentinel.GetMasterAddrByName(ctx, "m").Result()
		if err != nil || len(a) != 2 {
			return ""
		}
		return a[0] + ":" + a[1]
	}
	// wait for the replica to sync and the sentinels to see it (polling
	// other processes: no event to wait on)
	replica := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", base+1), MaxRetries: -1})
	t.Cleanup(func() { _ = replica.Close() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		info, _ := replica.Info(context.Background(), "replication").Result()
		if masterAddr() != "" && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica or sentinels not ready after 10s")
		}
	}
	time.Sleep(time.Second) // the sentinels discover the replica through the master's INFO

	// a generous timeout: the first call asks a sentinel, then the master,
	// on a machine that may be loaded (calls to the killed master are
	// refused at once, so the failover timing does not depend on it)
	c, err := NewClient(Config{Mode: ModeSentinel, Addr: addrs, MasterName: "m", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	l, err := NewBucket(c, "sentinel", limit.PerSecond(1000), Options{Prefix: fmt.Sprintf("st%d", time.Now().UnixNano()),
		Timeout: time.Second, ProbeInterval: 100 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r, err := l.Allow(ctx, 1); err != nil || !r.Allowed || l.Stats().Fallbacks != 0 {
		t.Fatalf("before the failover: %+v, %v, %+v", r, err, l.Stats())
	}
	killed := time.Now()
	master.kill()
	var promoted, back time.Time
	for deadline := killed.Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if promoted.IsZero() && masterAddr() == fmt.Sprintf("127.0.0.1:%d", base+1) {
			promoted = time.Now()
		}
		_, _ = l.Allow(ctx, 1)
		if !promoted.IsZero() && !l.Stats().Down && l.Stats().Outages > 0 {
			back = time.Now()
			break
		}
	}
	if promoted.IsZero() || back.IsZero() {
		t.Fatalf("promoted %v, back on redis %v (stats %+v)", !promoted.IsZero(), !back.IsZero(), l.Stats())
	}
	t.Logf("sentinels named the replica %v after the kill; limiter back on redis %v after that",
		promoted.Sub(killed).Round(time.Millisecond), back.Sub(promoted).Round(time.Millisecond))
	if d := back.Sub(promoted); d > 2*time.Second {
		t.Errorf("back on redis %v after the promotion, want within 2s", d)
	}
}
