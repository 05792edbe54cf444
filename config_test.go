package sluice

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigExample(t *testing.T) {
	cfg, err := LoadConfig("examples/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 4 || cfg.Routes[1].Name != "github" || cfg.Routes[1].Cache == nil {
		t.Fatalf("unexpected routes: %+v", cfg.Routes)
	}
	tr, err := NewTransport(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = tr.Close()
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error, each naming field and value
	}{
		{"bad rate", "routes:\n- match: {host: a.com}\n- match: {host: b.com}\n- limits: [{rate: 10/x}]\n",
			[]string{`routes[2].limits[0].rate (line 4): "10/x" is not a rate`}},
		{"missing rate", "defaults:\n  limits: [{burst: 3}]\n", []string{"defaults.limits[0].rate (line 2): is required"}},
		{"unknown field", "routes:\n- nmae: x\n", []string{`routes[0].nmae (line 2): unknown field (did you mean "name"?); routes[0] takes cache, circuit,`}},
		{"bad jitter", "defaults:\n  retry: {jitter: sometimes}\n", []string{`defaults.retry.jitter (line 2): "sometimes" is not one of`}},
		{"bad ratio", "routes:\n- circuit: {failure_ratio: 1.5}\n", []string{"routes[0].circuit.failure_ratio (line 2): 1.5 must be between 0 and 1"}},
		{"host with scheme", "routes:\n- match: {host: 'https://x.com'}\n", []string{`routes[0].match.host (line 2): "https://x.com" must be a host name`}},
		{"lower-case method", "routes:\n- match: {methods: [get]}\n", []string{`routes[0].match.methods[0] (line 2): "get" is not an upper-case HTTP method`}},
		{"duplicate name", "routes:\n- name: a\n- name: a\n", []string{`routes[1].name (line 3): "a" is already the name of routes[0]`}},
		{"several at once", "defaults:\n  timeout: -1s\n  cost: -2\n", []string{"defaults.cost (line 3): -2", "defaults.timeout (line 2): -1s"}},
		{"shared without redis", "routes:\n- limits: [{rate: 10/s, shared: true}]\n", []string{"routes[0].limits[0].shared (line 2): needs a redis section"}},
		{"shared per host", "redis: {addr: 'localhost:6379'}\nroutes:\n- limits: [{rate: 10/s, shared: true, per_host: true}]\n", []string{"routes[0].limits[0].shared (line 3): cannot be combined with per_host"}},
		{"redis without addr", "redis: {prefix: x}\n", []string{"redis.addr (line 1): exactly one of addr and addrs"}},
		{"redis bad policy", "redis: {addr: 'localhost:6379', on_failure: panic}\n", []string{`redis.on_failure (line 1): "panic" must be local, deny or allow`}},
		{"all at once, with paths and lines", "routes:\n- name: a\n  retyr: {max_attempts: 2}\n  timeout: 30\n  limits:\n  - {rate: 10/s, burst: lots}\n  - {rate: 10/x}\ndefaults:\n  retry: {max_atempts: 3, jitter: none}\nquota: {burst_fraction: 2}\n",
			[]string{
				`routes[0].retyr (line 3): unknown field (did you mean "retry"?)`,
				`routes[0].timeout (line 4): "30" is not a duration: write a number with a unit`,
				`routes[0].limits[0].burst (line 6): "lots" is not a whole number`,
				`routes[0].limits[1].rate (line 7): "10/x" is not a rate`,
				`defaults.retry.max_atempts (line 9): unknown field (did you mean "max_attempts"?)`,
				`quota.burst_fraction (line 10): 2 must be between 0 and 1`,
			}},
		{"wrong shape", "routes: {name: a}\ndefaults: [1]\n", []string{"routes (line 1): must be a list, not a mapping", "defaults (line 2): must be a mapping of Policy's fields, not a list"}},
		{"cache store typo", "cache: {store: redis, salt_env: X, stroe: memory}\n", []string{`cache.stroe (line 1): unknown field (did you mean "store"?)`}},
		{"cache redis without section", "cache: {store: redis}\n", []string{"cache.store (line 1): redis needs the redis section", "cache.salt_env (line 1): is required with store redis"}},
		{"bad budget ttl", "defaults:\n  retry: {budget: {ttl: 5m}}\n", []string{"defaults.retry.budget.ttl (line 2): 5m0s must be between 1s and 60s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigErrorIsTyped(t *testing.T) {
	err := Config{Routes: []Route{{Policy: Policy{Limits: []LimitConfig{{Rate: "fast"}}}}}}.Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "routes[0].limits[0].rate" {
		t.Fatalf("got %v", err)
	}
	if _, err := NewTransport(Config{Defaults: Policy{Cost: -1}}, nil); !errors.As(err, &ce) {
		t.Fatalf("NewTransport did not validate: %v", err)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}

func TestEmptyConfig(t *testing.T) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTransport(cfg, nil); err != nil {
		t.Fatal(err)
	}
}
