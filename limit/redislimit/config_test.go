package redislimit

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/limit"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string // substring of the error; "" = valid
	}{
		{"minimal", Config{Addr: "h:1"}, ""},
		{"no addr", Config{}, "addr is required"},
		{"brace prefix", Config{Addr: "h:1", Prefix: "a{"}, "prefix"},
		{"negative timeout", Config{Addr: "h:1", Timeout: -1}, "timeout"},
		{"bad policy", Config{Addr: "h:1", OnFailure: 9}, "failure policy"},
		{"negative workers", Config{Addr: "h:1", ExpectedWorkers: -2}, "expected_workers"},
		{"negative lease", Config{Addr: "h:1", Lease: -1}, "lease"},
		{"negative lease ttl", Config{Addr: "h:1", LeaseTTL: -1}, "lease_ttl"},
		{"negative max pause", Config{Addr: "h:1", MaxPause: -1}, "max_pause"},
		{"several addrs, no mode", Config{Addr: "h:1,h:2"}, "mode: cluster"},
		{"one seed, cluster", Config{Addr: "h:1", Mode: ModeCluster}, ""},
		{"unknown mode", Config{Addr: "h:1", Mode: "ring"}, "single, cluster or sentinel"},
		{"sentinel without master", Config{Addr: "h:1", Mode: ModeSentinel}, "master_name"},
		{"master name in cluster", Config{Addr: "h:1", Mode: ModeCluster, MasterName: "m"}, "only for mode sentinel"},
		{"url in cluster", Config{Addr: "redis://h:1", Mode: ModeCluster}, "URL is for mode single"},
		{"db in cluster", Config{Addr: "h:1", Mode: ModeCluster, DB: 2}, "database 0"},
	}
	for _, tt := range tests {
		err := tt.c.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestNewClient checks the client kinds NewClient picks and that their
// options keep calls bounded: context deadlines honoured, no retries.
func TestNewClient(t *testing.T) {
	tests := []struct {
		addr  string
		mode  Mode
		kind  string
		seeds int
	}{
		{"127.0.0.1:6379", "", "*redis.Client", 0},
		{"redis://u:secret@127.0.0.1:6379/2", "", "*redis.Client", 0},
		{"10.0.0.1:7000, 10.0.0.2:7000", ModeCluster, "*redis.ClusterClient", 2},
		// one seed is a cluster when the mode says so, never a single node
		{"10.0.0.1:7000", ModeCluster, "*redis.ClusterClient", 1},
	}
	for _, tt := range tests {
		c, err := NewClient(Config{Addr: tt.addr, Mode: tt.mode})
		if err != nil {
			t.Fatalf("%s: %v", tt.addr, err)
		}
		switch cc := c.(type) {
		case *redis.Client:
			o := cc.Options()
			if tt.kind != "*redis.Client" || !o.ContextTimeoutEnabled || o.MaxRetries != -1 && o.MaxRetries != 0 {
				t.Errorf("%s: %T with %+v", tt.addr, c, o)
			}
		case *redis.ClusterClient:
			o := cc.Options()
			if tt.kind != "*redis.ClusterClient" || !o.ContextTimeoutEnabled || len(o.Addrs) != tt.seeds {
				t.Errorf("%s: %T with addrs %v", tt.addr, c, o.Addrs)
			}
		default:
			t.Errorf("%s: %T, want %s", tt.addr, c, tt.kind)
		}
		if !honoursContext(c) {
			t.Errorf("%s: the limiter would not trust the client's deadlines", tt.addr)
		}
		_ = c.Close()
	}
	_, err := NewClient(Config{Addr: "redis://u:secret@[bad"})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad URL: %v (must fail without quoting the password)", err)
	}
}

func TestParseFailurePolicy(t *testing.T) {
	tests := []struct {
		in   string
		want FailurePolicy
		err  bool
	}{
		{"", FailLocal, false},
		{"local", FailLocal, false},
		{"deny", FailDeny, false},
		{"allow", FailAllow, false},
		{"Deny", 0, true},
		{"open", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseFailurePolicy(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseFailurePolicy(%q) = %v, %v", tt.in, got, err)
		}
		if err == nil && tt.in != "" {
			if b, _ := got.MarshalText(); string(b) != tt.in {
				t.Errorf("MarshalText(%v) = %q, want %q", got, b, tt.in)
			}
		}
	}
	if s := FailurePolicy(7).String(); s != "FailurePolicy(7)" {
		t.Errorf("String of an unknown policy = %q", s)
	}
}

func FuzzParseFailurePolicy(f *testing.F) {
	for _, s := range []string{"", "local", "deny", "allow", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseFailurePolicy(s)
		if err != nil {
			return
		}
		b, err := p.MarshalText()
		if err != nil {
			t.Fatalf("%q parsed to %v, which does not marshal: %v", s, p, err)
		}
		if q, err := ParseFailurePolicy(string(b)); err != nil || q != p {
			t.Fatalf("round trip %q -> %v -> %q -> %v, %v", s, p, b, q, err)
		}
	})
}

// FuzzParseDecision feeds script replies of any shape: never a panic,
// and either an error or a decision that echoes the numbers.
func FuzzParseDecision(f *testing.F) {
	f.Add(int64(1), int64(0), int64(9), int64(20000), "123.000", 3, int64(20000))
	f.Add(int64(0), int64(5), int64(0), int64(0), "", 0, int64(0))
	f.Fuzz(func(t *testing.T, granted, wait, remaining, reset int64, token string, extras int, extra int64) {
		reply := []any{granted, wait, remaining, reset, token}
		wantExtras := 0
		if extras > 0 {
			wantExtras = extras % 8
			ex := make([]any, wantExtras)
			for i := range ex {
				ex[i] = extra
			}
			reply = append(reply, ex)
		}
		d, err := parseDecision(reply, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if d.granted != granted || d.remaining != remaining || d.token != token ||
			d.wait != time.Duration(wait)*time.Microsecond || len(d.extras) != wantExtras {
			t.Fatalf("parsed %+v from %v", d, reply)
		}
		for _, bad := range []any{nil, "x", []any{int64(1)}, []any{"a", "b", "c", "d", "e"}, []any{granted, wait, remaining, reset, 7}} {
			if _, err := parseDecision(bad, time.Unix(0, 0)); err == nil {
				t.Fatalf("accepted %v", bad)
			}
		}
	})
}

// FuzzIntervalMicros checks the emission interval sent to the scripts
// against the Rate's own arithmetic.
func FuzzIntervalMicros(f *testing.F) {
	f.Add(int64(50), int64(time.Second))
	f.Add(int64(3), int64(time.Second))
	f.Add(int64(1_000_000_000), int64(time.Second))
	f.Fuzz(func(t *testing.T, count, period int64) {
		r := limit.Rate{Count: count, Period: time.Duration(period)}
		if r.Validate() != nil || r.IsInf() {
			return
		}
		var got float64
		if _, err := fmt.Sscan(intervalMicros(count, r.Period), &got); err != nil {
			t.Fatal(err)
		}
		want := float64(period) / float64(count) / 1e3
		if got <= 0 || got < want*(1-1e-12) || got > want*(1+1e-12) {
			t.Fatalf("interval of %d per %v = %v us, want %v", count, r.Period, got, want)
		}
	})
}

// TestOptionsDefaults checks the zero Options' documented defaults.
func TestOptionsDefaults(t *testing.T) {
	l, err := NewBucket(newMini(t).client, "d", limit.PerSecond(10), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.opts.Prefix != DefaultPrefix || l.opts.Timeout != DefaultTimeout || l.opts.ProbeInterval != DefaultProbeInterval ||
		l.opts.ExpectedWorkers != 1 || l.opts.OnFailure != FailLocal || l.fallback == nil {
		t.Errorf("defaults %+v, fallback %v", l.opts, l.fallback)
	}
	if l.Name() != "d" || len(l.Rates()) != 1 || l.Keys()[0] != "{sluice:d}:tat" {
		t.Errorf("Name %q, Rates %v, Keys %v", l.Name(), l.Rates(), l.Keys())
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}
