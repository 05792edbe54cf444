package redislimit

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Mode is how a Config reaches Redis.
type Mode string

// The modes of a Config. The mode is never inferred from the number of
// addresses: one seed address is a valid cluster.
const (
	// ModeSingle is one Redis node (the default when Mode is empty and
	// MasterName is not set).
	ModeSingle Mode = "single"
	// ModeCluster is a Redis Cluster reached through one or more seed
	// nodes; the slot map is loaded from them.
	ModeCluster Mode = "cluster"
	// ModeSentinel follows the master named MasterName through the
	// Sentinels at Addr (the default when MasterName is set).
	ModeSentinel Mode = "sentinel"
)

// Config is how limiters reach Redis and what they do when it fails: the
// Go form of the redis: section of sluice's configuration (sluice.RedisConfig
// is the only schema of that section; this type has no YAML tags on
// purpose). The zero Config is not usable: Addr is required.
type Config struct {
	// Mode is single, cluster or sentinel. Empty means sentinel when
	// MasterName is set, else single; several addresses then need an
	// explicit mode.
	Mode Mode
	// Addr is host:port of the server, the seed nodes of a cluster, or
	// the Sentinels, comma-separated. A redis:// or rediss:// URL (with
	// user, password and database) is accepted in single mode.
	Addr string
	// MasterName is the name of the master Sentinel mode follows.
	MasterName string
	// Username and Password authenticate, when set.
	Username string
	Password string
	// DB is the database number (single node and Sentinel only).
	DB int
	// TLS, when not nil, makes every connection use TLS with it (a
	// rediss:// URL does the same in single mode).
	TLS *tls.Config
	// Prefix starts every key; empty means "sluice".
	Prefix string
	// Timeout bounds each Redis call; zero means 50ms.
	Timeout time.Duration
	// OnFailure is local (default), deny or allow.
	OnFailure FailurePolicy
	// ExpectedWorkers divides the rate for the local fallback; zero means 1.
	ExpectedWorkers int
	// Lease is the number of units taken per round trip; 0 or 1 means none.
	Lease int64
	// LeaseTTL is how long a leased unit stays spendable; zero means
	// Lease x ExpectedWorkers emission intervals.
	LeaseTTL time.Duration
	// MaxPause bounds a pause read from Redis; zero means DefaultMaxPause.
	MaxPause time.Duration
}

// mode returns the effective mode of c, or an error naming what to set.
func (c Config) mode() (Mode, error) {
	switch c.Mode {
	case ModeSingle, ModeCluster:
		if c.MasterName != "" {
			return "", fmt.Errorf("redislimit: config: master_name %q is only for mode sentinel", c.MasterName)
		}
		return c.Mode, nil
	case ModeSentinel:
		if c.MasterName == "" {
			return "", errors.New("redislimit: config: mode sentinel needs master_name")
		}
		return c.Mode, nil
	case "":
		if c.MasterName != "" {
			return ModeSentinel, nil
		}
		if len(splitAddrs(c.Addr)) > 1 {
			return "", errors.New("redislimit: config: several addresses need mode: cluster (seed nodes) or mode: sentinel (with master_name)")
		}
		return ModeSingle, nil
	}
	return "", fmt.Errorf("redislimit: config: mode %q must be single, cluster or sentinel", string(c.Mode))
}

func isURL(a string) bool {
	return strings.HasPrefix(a, "redis://") || strings.HasPrefix(a, "rediss://")
}

func splitAddrs(s string) []string {
	var addrs []string
	for a := range strings.SplitSeq(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// Validate reports what is wrong with c, or nil.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Addr) == "" {
		errs = append(errs, errors.New("redislimit: config: addr is required"))
	}
	m, err := c.mode()
	if err != nil {
		errs = append(errs, err)
	}
	if isURL(c.Addr) && m != ModeSingle && err == nil {
		errs = append(errs, fmt.Errorf("redislimit: config: a redis:// URL is for mode single; mode %s takes host:port addresses (and a tls section for TLS)", m))
	}
	if m == ModeCluster && c.DB != 0 {
		errs = append(errs, fmt.Errorf("redislimit: config: db %d: a cluster has only database 0", c.DB))
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
	if c.MaxPause < 0 {
		errs = append(errs, fmt.Errorf("redislimit: config: max_pause %v must not be negative", c.MaxPause))
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
		MaxPause:        c.MaxPause,
		Logger:          logger,
	}
}

// NewClient returns a client for c, set up for rate limiting: socket I/O
// bounded by the context (so Options.Timeout holds without a goroutine per
// call), no automatic retry of a script by any layer (a retried script could
// take units twice; in cluster mode MOVED and ASK are still followed, since
// the node refused the script without running it), one dial attempt per
// connection, and dial, read, write and pool timeouts of four times the call
// timeout (at least 200ms). In cluster mode the limiters reload the slot map
// on connection errors and CLUSTERDOWN, so a promoted replica is used
// within about one probe interval. The caller closes the client.
func NewClient(c Config) (redis.UniversalClient, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	mode, _ := c.mode()
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	d := max(4*timeout, 200*time.Millisecond)
	if isURL(c.Addr) {
		o, err := redis.ParseURL(c.Addr)
		if err != nil {
			// not wrapped: url errors quote the URL, password included
			return nil, errors.New("redislimit: config: addr is not a valid redis:// URL")
		}
		if c.TLS != nil {
			o.TLSConfig = c.TLS
		}
		o.ContextTimeoutEnabled, o.MaxRetries, o.DialerRetries = true, -1, 1
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = d, d, d, d
		cl := redis.NewClient(o)
		cl.AddHook(noRetryHook{})
		return cl, nil
	}
	addrs := splitAddrs(c.Addr)
	switch mode {
	case ModeCluster:
		cl := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                 addrs,
			Username:              c.Username,
			Password:              c.Password,
			TLSConfig:             c.TLS,
			ContextTimeoutEnabled: true,
			MaxRetries:            -1,
			MaxRedirects:          3,
			DialerRetries:         1,
			DialTimeout:           d,
			ReadTimeout:           d,
			WriteTimeout:          d,
			PoolTimeout:           d,
		})
		// The redirect loop retries a command on EOF, dial and pool
		// errors even with MaxRetries off; the hook on every node hides
		// those errors from it for scripts.
		cl.OnNewNode(func(n *redis.Client) { n.AddHook(noRetryHook{}) })
		return cl, nil
	case ModeSentinel:
		cl := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:            c.MasterName,
			SentinelAddrs:         addrs,
			Username:              c.Username,
			Password:              c.Password,
			DB:                    c.DB,
			TLSConfig:             c.TLS,
			ContextTimeoutEnabled: true,
			MaxRetries:            -1,
			DialerRetries:         1,
			DialTimeout:           d,
			ReadTimeout:           d,
			WriteTimeout:          d,
			PoolTimeout:           d,
		})
		cl.AddHook(noRetryHook{})
		return cl, nil
	}
	cl := redis.NewClient(&redis.Options{
		Addr:                  addrs[0],
		Username:              c.Username,
		Password:              c.Password,
		DB:                    c.DB,
		TLSConfig:             c.TLS,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           d,
		ReadTimeout:           d,
		WriteTimeout:          d,
		PoolTimeout:           d,
	})
	cl.AddHook(noRetryHook{})
	return cl, nil
}
