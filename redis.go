package sluice

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
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
		Mode:            redislimit.Mode(rc.Mode),
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
	if rc.TLS != nil {
		if c.TLS, err = rc.TLS.config(); err != nil {
			return nil, nil, err
		}
	}
	client, err := redislimit.NewClient(c)
	if err != nil {
		return nil, nil, fmt.Errorf("sluice: redis: %w", err)
	}
	lb.redis = client
	return lb, client, nil
}

// config builds the tls.Config of the redis.tls section.
func (t *RedisTLSConfig) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("sluice: redis.tls.ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sluice: redis.tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("sluice: redis.tls: cert_file and key_file go together; set both or neither")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("sluice: redis.tls.cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
