package limit

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock moved by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestKeyedCreatesAndReuses(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	made := 0
	k, err := NewKeyed(func(key string) (Limiter, error) {
		made++
		if key == "bad" {
			return nil, errors.New("no such tenant")
		}
		return NewBucket(PerSecond(2), WithClock(clk))
	}, KeyedOptions{MaxKeys: 2, IdleTTL: time.Minute, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := k.Get("a")
	a2, _ := k.Get("a")
	if a1 != a2 || made != 1 {
		t.Fatalf("second Get made a new limiter (%d made)", made)
	}
	_, _ = a1.Allow(bg, 2)
	if r, _ := a2.Allow(bg, 1); r.Allowed {
		t.Fatal("state not shared between Gets")
	}
	if _, err := k.Get("bad"); err == nil {
		t.Fatal("newLimiter error not returned")
	}
	_, _ = k.Get("b")
	_, _ = k.Get("a") // a is now the most recent
	_, _ = k.Get("c") // evicts b, the least recently used
	if k.Len() != 2 {
		t.Fatalf("Len %d, want 2", k.Len())
	}
	made = 0
	_, _ = k.Get("a")
	if made != 0 {
		t.Fatal("a was evicted instead of b")
	}
	clk.Add(time.Minute)
	_, _ = k.Get("d") // a and c are idle for a minute: both dropped
	if k.Len() != 1 {
		t.Fatalf("Len %d after idle eviction, want 1", k.Len())
	}
	if _, err := NewKeyed[string](nil, KeyedOptions{}); err == nil {
		t.Fatal("nil newLimiter accepted")
	}
	if _, err := NewKeyed(func(string) (Limiter, error) { return nil, nil }, KeyedOptions{MaxKeys: -1}); err == nil {
		t.Fatal("negative MaxKeys accepted")
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestKeyedMemoryBound passes 1,000,000 distinct keys through a Keyed of
// MaxKeys 10,000: it never holds more, and its heap stays what 10,000 keys
// cost. It also measures the bytes one key costs (a Bucket per key).
func TestKeyedMemoryBound(t *testing.T) {
	newB := func(string) (Limiter, error) { return NewBucket(PerSecond(10)) }
	const max = 10_000
	k, _ := NewKeyed(newB, KeyedOptions{MaxKeys: max})
	base := heapInUse()
	for i := range max {
		_, _ = k.Get("key-" + strconv.Itoa(i))
	}
	full := heapInUse()
	perKey := float64(full-base) / max
	for i := max; i < 1_000_000; i++ {
		if _, err := k.Get("key-" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if i%100_000 == 0 && k.Len() > max {
			t.Fatalf("%d keys held, max %d", k.Len(), max)
		}
	}
	after := heapInUse()
	if k.Len() != max {
		t.Fatalf("%d keys held, want %d", k.Len(), max)
	}
	if after > full+full/2 {
		t.Fatalf("heap grew from %d to %d bytes over 1e6 keys", full, after)
	}
	t.Logf("%.0f bytes per key (Bucket per string key \"key-N\"); heap with %d keys %d B, after 1e6 distinct keys %d B",
		perKey, max, full-base, after-base)
	if perKey > 1024 {
		t.Fatalf("%.0f bytes per key", perKey)
	}
	runtime.KeepAlive(k)
}
