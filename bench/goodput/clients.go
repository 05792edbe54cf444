package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/go-resty/resty/v2"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/sluicehq/sluice"
	"golang.org/x/time/rate"
)

// client is an HTTP client under test, reduced to what the job needs.
type client struct {
	// get sends one GET and returns the final status, or an error.
	get func(ctx context.Context, url string) (status int, err error)
	// close releases the client's connections (and the Transport, for
	// sluice).
	close func()
}

// clientSpec names a client and builds fresh instances of it.
type clientSpec struct {
	// name is the client's name in flags and tables.
	name string
	// build returns a new client whose connections come from base.
	build func(base *http.Transport) (client, error)
}

// clientSpecs are the clients, in table order.
var clientSpecs = []clientSpec{
	{"sluice", newSluice},
	{"sluice-rate", newSluiceRate},
	{"retryablehttp", newRetryableHTTP},
	{"failsafe", newFailsafe},
	{"failsafe-rate", newFailsafeRate},
	{"resty", newResty},
	{"oracle", newOracle},
}

// clientNames returns the names of every client, in table order.
func clientNames() []string {
	names := make([]string, len(clientSpecs))
	for i, c := range clientSpecs {
		names[i] = c.name
	}
	return names
}

// clientFor returns the client named name.
func clientFor(name string) (clientSpec, error) {
	for _, c := range clientSpecs {
		if c.name == name {
			return c, nil
		}
	}
	return clientSpec{}, fmt.Errorf("unknown client %q (known: %s)", name, strings.Join(clientNames(), ", "))
}

// newBaseTransport returns a transport keeping concurrency idle connections
// to the provider, so no client pays for new connections.
func newBaseTransport(concurrency int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = concurrency
	tr.MaxIdleConnsPerHost = concurrency
	return tr
}

// newSluice is sluice with no rate configured: it learns the quota from
// response headers and finds the rate from bare throttles, with up to 10
// attempts per request.
func newSluice(base *http.Transport) (client, error) {
	tr, err := sluice.NewTransport(sluice.Config{
		Defaults: sluice.Policy{Retry: &sluice.RetryConfig{MaxAttempts: 10}},
	}, base)
	if err != nil {
		return client{}, fmt.Errorf("sluice: %w", err)
	}
	hc := &http.Client{Transport: tr}
	return client{
		get:   func(ctx context.Context, url string) (int, error) { return httpGet(ctx, hc, url) },
		close: func() { tr.Close(); base.CloseIdleConnections() },
	}, nil
}

// newSluiceRate is sluice told the provider's rate, as a user who read the
// provider's documentation would configure it: a limit of 50/s with burst
// 10, up to 10 attempts per request.
func newSluiceRate(base *http.Transport) (client, error) {
	tr, err := sluice.NewTransport(sluice.Config{
		Defaults: sluice.Policy{
			Limits: []sluice.LimitConfig{{Rate: fmt.Sprintf("%d/s", trueRate), Burst: trueBurst}},
			Retry:  &sluice.RetryConfig{MaxAttempts: 10},
		},
	}, base)
	if err != nil {
		return client{}, fmt.Errorf("sluice-rate: %w", err)
	}
	hc := &http.Client{Transport: tr}
	return client{
		get:   func(ctx context.Context, url string) (int, error) { return httpGet(ctx, hc, url) },
		close: func() { tr.Close(); base.CloseIdleConnections() },
	}, nil
}

// newFailsafeRate is failsafe-go told the provider's rate: its smooth rate
// limiter at 50/s (waiting up to a minute for a permit) inside its HTTP
// retry policy, so that every attempt takes a permit.
func newFailsafeRate(base *http.Transport) (client, error) {
	retry := failsafehttp.NewRetryPolicyBuilder().ReturnLastFailure().Build()
	rl := ratelimiter.NewSmoothBuilder[*http.Response](trueRate, time.Second).WithMaxWaitTime(time.Minute).Build()
	hc := &http.Client{Transport: failsafehttp.NewRoundTripper(base, retry, rl)}
	return client{
		get:   func(ctx context.Context, url string) (int, error) { return httpGet(ctx, hc, url) },
		close: base.CloseIdleConnections,
	}, nil
}

// newRetryableHTTP is go-retryablehttp's default client, with its debug
// logging turned off.
func newRetryableHTTP(base *http.Transport) (client, error) {
	rc := retryablehttp.NewClient()
	rc.HTTPClient.Transport = base
	rc.Logger = nil
	hc := rc.StandardClient()
	return client{
		get:   func(ctx context.Context, url string) (int, error) { return httpGet(ctx, hc, url) },
		close: base.CloseIdleConnections,
	}, nil
}

// newFailsafe is failsafe-go's HTTP retry policy with its defaults, plus
// ReturnLastFailure so that the final throttle is returned (and its body
// closed) rather than replaced by an ExceededError.
func newFailsafe(base *http.Transport) (client, error) {
	policy := failsafehttp.NewRetryPolicyBuilder().ReturnLastFailure().Build()
	hc := &http.Client{Transport: failsafehttp.NewRoundTripper(base, policy)}
	return client{
		get:   func(ctx context.Context, url string) (int, error) { return httpGet(ctx, hc, url) },
		close: base.CloseIdleConnections,
	}, nil
}

// newResty is resty v2 with three retries on 429 and 5xx responses (v2
// retries only transport errors unless given a condition) and its default
// backoff, jittered between 100ms and 2s. Its logging is discarded.
func newResty(base *http.Transport) (client, error) {
	rc := resty.New().
		SetTransport(base).
		SetLogger(discardLogger{}).
		SetRetryCount(3).
		AddRetryCondition(func(r *resty.Response, err error) bool {
			return r != nil && (r.StatusCode() == http.StatusTooManyRequests || r.StatusCode() >= 500)
		})
	return client{
		get: func(ctx context.Context, url string) (int, error) {
			resp, err := rc.R().SetContext(ctx).Get(url)
			if err != nil {
				return 0, err
			}
			return resp.StatusCode(), nil
		},
		close: base.CloseIdleConnections,
	}, nil
}

// newOracle is a plain client paced at the provider's true limit, without
// retries.
func newOracle(base *http.Transport) (client, error) {
	lim := rate.NewLimiter(trueRate, trueBurst)
	hc := &http.Client{Transport: base}
	return client{
		get: func(ctx context.Context, url string) (int, error) {
			if err := lim.Wait(ctx); err != nil {
				return 0, err
			}
			return httpGet(ctx, hc, url)
		},
		close: base.CloseIdleConnections,
	}, nil
}

// httpGet sends a GET through hc, reads the body to the end so the
// connection is reused, and returns the status.
func httpGet(ctx context.Context, hc *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, nil
}

// discardLogger drops resty's log lines.
type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}
