package sluice

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/limit/redislimit"
)

// newLimitBuilder connects to the Redis of rc, if any, and returns the
// builder of the routes' limiters and the client to close with the
// Transport (nil when the caller supplied it or there is none).
func newLimitBuilder(rc *RedisConfig, log *slog.Logger) (*limitBuilder, io.Closer, error) {
	lb := &limitBuilder{}
	if rc == nil {
		return lb, nil, nil
	}
	policy, err := redislimit.ParseFailurePolicy(rc.OnFailure)
	if err != nil {
		return nil, nil, fmt.Errorf("sluice: redis.on_failure: %w", err)
	}
	lb.opts = redislimit.Options{
		Prefix:          rc.Prefix,
		Timeout:         rc.Timeout,
		OnFailure:       policy,
		ExpectedWorkers: rc.ExpectedWorkers,
		Lease:           rc.Lease,
		Logger:          log,
	}
	if rc.Client != nil {
		lb.redis = rc.Client
		return lb, nil, nil
	}
	addrs := rc.Addrs
	if rc.Addr != "" {
		addrs = []string{rc.Addr}
	}
	opts := &redis.UniversalOptions{
		Addrs:      addrs,
		MasterName: rc.MasterName,
		Username:   rc.Username,
		DB:         rc.DB,
		// A decision that takes longer than the timeout is a failure
		// anyway; do not let the client wait longer for a connection.
		DialTimeout: max(4*rc.Timeout, 200*time.Millisecond),
	}
	if rc.PasswordEnv != "" {
		pw, ok := os.LookupEnv(rc.PasswordEnv)
		if !ok {
			return nil, nil, fmt.Errorf("sluice: redis.password_env: environment variable %s is not set", rc.PasswordEnv)
		}
		opts.Password = pw
	}
	c := redis.NewUniversalClient(opts)
	lb.redis = c
	return lb, c, nil
}
