package redislimit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testCluster is a Redis Cluster of the test's own: 3 masters and 3
// replicas on loopback ports base..base+5, started by the test and killed
// at its end. The ports 17000-17100 are this package's.
type testCluster struct {
	t     *testing.T
	nodes map[int]*server // by port
	ports []int
}

// needBinaries skips the test when redis-server (or redis-cli) is missing,
// and fails it instead under SLUICE_REQUIRE_REDIS=1 (as .ci/run sets).
func needBinaries(t *testing.T, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("SLUICE_REQUIRE_REDIS") == "1" {
				t.Fatalf("SLUICE_REQUIRE_REDIS=1 but %s is not installed (apt-get install redis-server)", b)
			}
			t.Skipf("%s is not installed: the Redis Cluster/Sentinel tests need it (apt-get install redis-server)", b)
		}
	}
}

// startCluster starts the nodes, joins them with redis-cli --cluster
// create and waits until every node reports cluster_state:ok and every
// replica is in sync. cluster-node-timeout is 1s, so a replica is promoted
// 1-3s after its master dies.
func startCluster(t *testing.T, base int) *testCluster {
	t.Helper()
	needBinaries(t, "redis-server", "redis-cli")
	base = freeBlock(t, base)
	dir := t.TempDir()
	c := &testCluster{t: t, nodes: map[int]*server{}}
	for i := range 6 {
		p := base + i
		c.ports = append(c.ports, p)
		c.nodes[p] = startServerArgs(t, p, "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("%s/nodes-%d.conf", dir, p),
			"--cluster-node-timeout", "1000", "--dir", dir,
			// replicas sync at once (the default waits 5s), and must have
			// synced to be promoted
			"--repl-diskless-sync-delay", "0")
	}
	args := []string{"--cluster", "create"}
	for _, p := range c.ports {
		args = append(args, fmt.Sprintf("127.0.0.1:%d", p))
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitHealthy(15 * time.Second)
	return c
}

// node returns a plain client of one node.
func (c *testCluster) node(port int) *redis.Client {
	cl := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: time.Second})
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// waitHealthy polls the live nodes until all report cluster_state:ok, all
// slots are served and every replica is in sync with its master (polling child processes: there is no event to wait
// on), failing the test after limit.
func (c *testCluster) waitHealthy(limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok := true
		for p, s := range c.nodes {
			if s.cmd.ProcessState != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			info, err := c.node(p).ClusterInfo(ctx).Result()
			cancel()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				ok = false
				break
			}
			ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
			repl, err := c.node(p).Info(ctx, "replication").Result()
			cancel()
			if err != nil || strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster not healthy after %v", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// masterOf returns the port of the master serving key, asking the node at
// ask.
func (c *testCluster) masterOf(ask int, key string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	n := c.node(ask)
	slot, err := n.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return 0, err
	}
	shards, err := n.ClusterSlots(ctx).Result()
	if err != nil {
		return 0, err
	}
	for _, s := range shards {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			_, p, _ := strings.Cut(s.Nodes[0].Addr, ":")
			return strconv.Atoi(p)
		}
	}
	return 0, fmt.Errorf("slot %d not served", slot)
}

// client returns a limiter client of the cluster built by NewClient from one
// seed node.
func (c *testCluster) client(seed int, timeout time.Duration) *redis.ClusterClient {
	c.t.Helper()
	cl, err := NewClient(Config{Mode: ModeCluster, Addr: fmt.Sprintf("127.0.0.1:%d", seed), Timeout: timeout})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl.(*redis.ClusterClient)
}

// freeBlock returns base, or base+40 or base+80 (mod the 17000-17100 range)
// when a port of the block (or its cluster bus port, +10000) is taken, as
// by a concurrent run of these tests from another worktree.
func freeBlock(t *testing.T, base int) int {
	t.Helper()
	for _, b := range []int{base, 17000 + (base-17000+40)%100, 17000 + (base-17000+80)%100} {
		free := true
		for i := range 6 {
			for _, p := range []int{b + i, b + i + 10000} {
				ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
				if err != nil {
					free = false
					break
				}
				ln.Close()
			}
		}
		if free {
			return b
		}
	}
	t.Fatalf("no free block of 6 ports near %d (another run of the cluster tests?)", base)
	return 0
}
