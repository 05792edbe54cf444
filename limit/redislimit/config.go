package redislimit

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is the redis: block of a configuration file. The zero Config is
// not usable: Addr is required. Field tags follow the YAML names.
type Config struct {
	// Addr is host:port of the server; several comma-separated addresses
	// select a Redis Cluster (or, with MasterName, Sentinels). A
	// redis:// or rediss:// URL (with user, password and database) is
	// accepted for a single node.
	Addr string `yaml:"addr" json:"addr"`
	// MasterName selects Sentinel mode: the name of the master to follow.
	MasterName string `yaml:"master_name" json:"master_name"`
	// Username and Password authenticate, when set.
	Username string `yaml:"username" json:"username"`
	Password string `yaml:"password" json:"password"`
	// DB is the database number (single node and Sentinel only).
	DB int `yaml:"db" json:"db"`
	// Prefix starts every key; empty means "sluice".
	Prefix string `yaml:"prefix" json:"prefix"`
	// Timeout bounds each Redis call; zero means 50ms.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// OnFailure is local (default), deny or allow.
	OnFailure FailurePolicy `yaml:"on_failure" json:"on_failure"`
	// ExpectedWorkers divides the rate for the local fallback; zero means 1.
	ExpectedWorkers int `yaml:"expected_workers" json:"expected_workers"`
	// Lease is the number of units taken per round trip; 0 or 1 means none.
	Lease int64 `yaml:"lease" json:"lease"`
	// LeaseTTL is how long a leased unit stays spendable; zero means
	// Lease x ExpectedWorkers emission intervals.
	LeaseTTL time.Duration `yaml:"lease_ttl" json:"lease_ttl"`
}

// Validate reports what is wrong with c, or nil.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Addr) == "" {
		errs = append(errs, errors.New("redislimit: config: addr is required"))
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		errs = append(errs, fmt.Errorf("redislimit: config: prefix %q must not contain '{' or '}'", c.Prefix))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("redislimit: config: timeout %v must not be negative", c.Timeout))
	}
	if _, err := c.OnFailure.MarshalText(); err != nil {
		errs = append(errs, err)
	}
	if c.ExpectedWorkers < 0 {
		errs = append(errs, fmt.Errorf("redislimit: config: expected_workers %d must not be negative", c.ExpectedWorkers))
	}
	if c.Lease < 0 {
		errs = append(errs, fmt.Errorf("redislimit: config: lease %d must not be negative", c.Lease))
	}
	if c.LeaseTTL < 0 {
		errs = append(errs, fmt.Errorf("redislimit: config: lease_ttl %v must not be negative", c.LeaseTTL))
	}
	return errors.Join(errs...)
}

// Options returns the limiter options c describes, logging to logger
// (nil means slog.Default()).
func (c Config) Options(logger *slog.Logger) Options {
	return Options{
		Prefix:          c.Prefix,
		Timeout:         c.Timeout,
		OnFailure:       c.OnFailure,
		ExpectedWorkers: c.ExpectedWorkers,
		Lease:           c.Lease,
		LeaseTTL:        c.LeaseTTL,
		Logger:          logger,
	}
}

// NewClient returns a client for c, set up for rate limiting: socket I/O
// bounded by the context (so Options.Timeout holds without a goroutine per
// call), no automatic retries (a retried script could take units twice),
// one dial attempt per connection, and dial, read, write and pool timeouts
// of four times the call timeout (at least 200ms). The caller closes it.
func NewClient(c Config) (redis.UniversalClient, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	d := max(4*timeout, 200*time.Millisecond)
	if strings.HasPrefix(c.Addr, "redis://") || strings.HasPrefix(c.Addr, "rediss://") {
		o, err := redis.ParseURL(c.Addr)
		if err != nil {
			// not wrapped: url errors quote the URL, password included
			return nil, errors.New("redislimit: config: addr is not a valid redis:// URL")
		}
		o.ContextTimeoutEnabled, o.MaxRetries, o.DialerRetries = true, -1, 1
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = d, d, d, d
		return redis.NewClient(o), nil
	}
	var addrs []string
	for a := range strings.SplitSeq(c.Addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 addrs,
		MasterName:            c.MasterName,
		Username:              c.Username,
		Password:              c.Password,
		DB:                    c.DB,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           d,
		ReadTimeout:           d,
		WriteTimeout:          d,
		PoolTimeout:           d,
	}), nil
}
