package sluice

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/sluicehq/sluice/limit/redislimit"
)

// newLimitBuilder connects to the Redis of rc, if any, and returns the
// builder of the routes' limiters and the client to close with the
// Transport (nil when the caller supplied it or there is none). The client
// and the limiter options come from redislimit, which sets the client up
// for rate limiting (calls bounded by the context, no automatic retries
// that could take units twice).
func newLimitBuilder(rc *RedisConfig, log *slog.Logger) (*limitBuilder, io.Closer, error) {
	lb := &limitBuilder{}
	if rc == nil {
		return lb, nil, nil
	}
	policy, err := redislimit.ParseFailurePolicy(rc.OnFailure)
	if err != nil {
		return nil, nil, fmt.Errorf("sluice: redis.on_failure: %w", err)
	}
	addr := rc.Addr
	if addr == "" {
		addr = strings.Join(rc.Addrs, ",")
	}
	c := redislimit.Config{
		Addr:            addr,
		MasterName:      rc.MasterName,
		Username:        rc.Username,
		DB:              rc.DB,
		Prefix:          rc.Prefix,
		Timeout:         rc.Timeout,
		OnFailure:       policy,
		ExpectedWorkers: rc.ExpectedWorkers,
		Lease:           rc.Lease,
	}
	lb.opts = c.Options(log)
	if rc.Client != nil {
		lb.redis = rc.Client
		return lb, nil, nil
	}
	if rc.PasswordEnv != "" {
		pw, ok := os.LookupEnv(rc.PasswordEnv)
		if !ok {
			return nil, nil, fmt.Errorf("sluice: redis.password_env: environment variable %s is not set", rc.PasswordEnv)
		}
		c.Password = pw
	}
	client, err := redislimit.NewClient(c)
	if err != nil {
		return nil, nil, fmt.Errorf("sluice: redis: %w", err)
	}
	lb.redis = client
	return lb, client, nil
}
