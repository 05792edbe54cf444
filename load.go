package sluice

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/limit"
	"github.com/sluicehq/sluice/quota"
)

// LoadConfig reads a YAML configuration file and validates it. Unknown
// fields are errors, and every error names the field and the bad value,
// e.g. `routes[2].limits[0].rate: "10/x" is not a rate`.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("sluice: load config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("sluice: %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes YAML into a Config strictly and validates it. It
// reports every problem at once, joined: unknown fields (with the closest
// known name), values of the wrong type and failed checks, each a
// *ConfigError with its YAML path and line.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	ck := yamlCheck{lines: map[string]int{}}
	if len(doc.Content) > 0 {
		ck.walk(doc.Content[0], reflect.TypeOf(cfg), "")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) && len(ck.errs) == 0 {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	reported := map[string]bool{}
	for _, e := range ck.errs {
		reported[e.(*ConfigError).Field] = true
	}
	errs := ck.errs
	if err := cfg.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var ce *ConfigError
			if errors.As(e, &ce) {
				if reported[ce.Field] {
					continue
				}
				if ce.Line == 0 {
					ce.Line = lineOf(ck.lines, ce.Field)
				}
			}
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// lineOf returns the line of field's path, or of its closest parent
// written in the YAML; 0 when none is.
func lineOf(lines map[string]int, field string) int {
	for p := field; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// ConfigError is one thing wrong in a Config: the field's path and what is
// wrong with it. Validate joins every ConfigError it finds with errors.Join.
type ConfigError struct {
	// Field is the path of the field, e.g. "routes[2].limits[0].rate".
	Field string
	// Problem says what is wrong, e.g. `"10/x" is not a rate`.
	Problem string
	// Line is the line of the field in the YAML it was loaded from; 0 for
	// a Config built in Go.
	Line int
}

// Error implements error: "routes[0].retyr (line 3): unknown field ...".
func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Field, e.Line, e.Problem)
	}
	return e.Field + ": " + e.Problem
}

type checker struct {
	errs  []error
	redis bool // the Config has a redis section
}

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Validate reports every problem in c, each a *ConfigError naming the YAML
// path of the field, joined; nil when c is usable. It is the one check of a
// Config: NewTransport runs it first, and `sluice check` runs it, so a
// Config that passes builds. The password_env variable of the redis
// section must be set when Validate runs.
func (c Config) Validate() error {
	ck := checker{redis: c.Redis != nil}
	if r := c.Redis; r != nil {
		ck.redisConfig(r)
	}
	ck.policy("defaults", c.Defaults)
	names := map[string]int{}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if r.Name != "" {
			if j, dup := names[r.Name]; dup {
				ck.add(p+".name", "%q is already the name of routes[%d]", r.Name, j)
			}
			names[r.Name] = i
		}
		ck.match(p+".match", r.Match)
		ck.policy(p, r.Policy)
	}
	if fp := c.Quota.BurstFraction; fp != nil {
		if f := *fp; f < 0 || f > 1 || f != f {
			ck.add("quota.burst_fraction", "%v must be between 0 and 1", f)
		}
	}
	if c.Quota.MaxBuckets < 0 {
		ck.add("quota.max_buckets", "%d must not be negative", c.Quota.MaxBuckets)
	}
	if a := c.Quota.Adaptive; a.InitialRate < 0 || a.MinRate < 0 || a.MaxRate < 0 || (a.MaxRate > 0 && a.MinRate > a.MaxRate) {
		ck.add("quota.adaptive", "rates must not be negative and min_rate must not exceed max_rate")
	}
	ck.cacheLimits(c.Cache)
	ck.buildChecks(c)
	return errors.Join(ck.errs...)
}

func (ck *checker) match(p string, m Match) {
	if strings.ContainsAny(m.Host, "/:") {
		ck.add(p+".host", "%q must be a host name without scheme, port or path", m.Host)
	}
	if m.Path != "" && !strings.HasPrefix(m.Path, "/") {
		ck.add(p+".path", "%q must start with /", m.Path)
	}
	for i, meth := range m.Methods {
		if meth == "" || meth != strings.ToUpper(meth) || strings.ContainsAny(meth, " \t/") {
			ck.add(fmt.Sprintf("%s.methods[%d]", p, i), "%q is not an upper-case HTTP method", meth)
		}
	}
}

func (ck *checker) policy(p string, pol Policy) {
	for i, l := range pol.Limits {
		lp := fmt.Sprintf("%s.limits[%d]", p, i)
		if l.Rate == "" {
			ck.add(lp+".rate", "is required (e.g. \"100/min\")")
		} else if _, err := limit.ParseRate(l.Rate); err != nil {
			ck.add(lp+".rate", "%q is not a rate: want N/unit such as 100/min, 5000/h or 50/10s", l.Rate)
		} else if _, err := rateOf(l); err != nil {
			ck.add(lp+".burst", "%d: the rate %q %v", l.Burst, l.Rate, err)
		}
		if l.Burst < 0 {
			ck.add(lp+".burst", "%d must not be negative", l.Burst)
		}
		if l.Shared && l.PerHost {
			ck.add(lp+".shared", "cannot be combined with per_host")
		}
		if l.Shared && !ck.redis {
			ck.add(lp+".shared", "needs a redis section to keep the limit in")
		}
	}
	for i, h := range pol.CredentialHeaders {
		if h == "" || strings.ContainsAny(h, " \t:\r\n") {
			ck.add(fmt.Sprintf("%s.credential_headers[%d]", p, i), "%q is not a header name", h)
		}
	}
	if pol.Cost < 0 {
		ck.add(p+".cost", "%d must not be negative", pol.Cost)
	}
	if pol.MaxWait < 0 {
		ck.add(p+".max_wait", "%v must not be negative", pol.MaxWait)
	}
	if pol.Concurrency < -1 {
		ck.add(p+".concurrency", "%d must be -1 (no cap), 0 (inherit) or positive", pol.Concurrency)
	}
	if pol.Timeout < 0 {
		ck.add(p+".timeout", "%v must not be negative", pol.Timeout)
	}
	if r := pol.Retry; r != nil {
		ck.retry(p+".retry", r)
	}
	if c := pol.Circuit; c != nil {
		ck.circuit(p+".circuit", c)
	}
	if q := pol.Quota; q != nil && q.Dialect != "" {
		if _, err := quota.ParseDialect(q.Dialect); err != nil {
			ck.add(p+".quota.dialect", "%q is not a known dialect (auto, none, retry-after, ietf, github, openai, anthropic, x, reddit, discord, shopify, azure, gitlab, generic)", q.Dialect)
		}
	}
	if c := pol.Cache; c != nil {
		if c.TTL < 0 {
			ck.add(p+".cache.ttl", "%v must not be negative", c.TTL)
		}
		if c.StaleIfError < 0 {
			ck.add(p+".cache.stale_if_error", "%v must not be negative", c.StaleIfError)
		}
	}
}

func (ck *checker) retry(p string, r *RetryConfig) {
	if r.MaxAttempts < 0 {
		ck.add(p+".max_attempts", "%d must not be negative", r.MaxAttempts)
	}
	if r.BaseDelay < 0 {
		ck.add(p+".base_delay", "%v must not be negative", r.BaseDelay)
	}
	if r.MaxDelay < 0 {
		ck.add(p+".max_delay", "%v must not be negative", r.MaxDelay)
	}
	if r.MaxDelay > 0 && r.BaseDelay > r.MaxDelay {
		ck.add(p+".base_delay", "%v is more than max_delay %v", r.BaseDelay, r.MaxDelay)
	}
	if r.MaxRetryAfter < 0 {
		ck.add(p+".max_retry_after", "%v must not be negative", r.MaxRetryAfter)
	}
	if _, ok := jitterKinds[r.Jitter]; !ok {
		ck.add(p+".jitter", "%q is not one of full, decorrelated, equal, none", r.Jitter)
	}
	if b := r.Budget; b != nil {
		if b.Ratio < 0 || b.Ratio > 1 {
			ck.add(p+".budget.ratio", "%v must be between 0 and 1", b.Ratio)
		}
		if b.MinPerSecond < 0 {
			ck.add(p+".budget.min_per_second", "%v must not be negative", b.MinPerSecond)
		}
		if b.TTL < 0 || b.TTL > 0 && (b.TTL.Seconds() < 1 || b.TTL.Seconds() > 60) {
			ck.add(p+".budget.ttl", "%v must be between 1s and 60s", b.TTL)
		}
	}
}

func (ck *checker) circuit(p string, c *CircuitConfig) {
	if c.FailureRatio < 0 || c.FailureRatio > 1 {
		ck.add(p+".failure_ratio", "%v must be between 0 and 1", c.FailureRatio)
	}
	if c.Window < 0 {
		ck.add(p+".window", "%v must not be negative", c.Window)
	}
	if c.OpenTimeout < 0 {
		ck.add(p+".open_timeout", "%v must not be negative", c.OpenTimeout)
	}
}

func (ck *checker) redisConfig(r *RedisConfig) {
	if r.Client == nil && (r.Addr == "") == (len(r.Addrs) == 0) {
		ck.add("redis.addr", "exactly one of addr and addrs is required")
	}
	if r.Addr != "" && !strings.Contains(r.Addr, ":") {
		ck.add("redis.addr", "%q must be host:port", r.Addr)
	}
	switch r.Mode {
	case "", "single", "cluster", "sentinel":
	default:
		ck.add("redis.mode", "%q must be single, cluster or sentinel", r.Mode)
	}
	switch {
	case r.Mode == "" && r.MasterName == "" && len(r.Addrs) > 1:
		ck.add("redis.mode", "several addrs need mode: cluster (seed nodes) or mode: sentinel (with master_name)")
	case r.Mode == "sentinel" && r.MasterName == "":
		ck.add("redis.master_name", "mode sentinel needs the master's name")
	case r.MasterName != "" && (r.Mode == "single" || r.Mode == "cluster"):
		ck.add("redis.master_name", "is only for mode sentinel, not %s", r.Mode)
	}
	if t := r.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		ck.add("redis.tls", "cert_file and key_file go together; set both or neither")
	}
	switch r.OnFailure {
	case "", "local", "deny", "allow":
	default:
		ck.add("redis.on_failure", "%q must be local, deny or allow", r.OnFailure)
	}
	if r.Timeout < 0 {
		ck.add("redis.timeout", "%v must not be negative", r.Timeout)
	}
	if r.ExpectedWorkers < 0 {
		ck.add("redis.expected_workers", "%d must not be negative", r.ExpectedWorkers)
	}
	if r.Lease < 0 {
		ck.add("redis.lease", "%d must not be negative", r.Lease)
	}
	if r.DB < 0 {
		ck.add("redis.db", "%d must not be negative", r.DB)
	}
}
