package sluice

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/redact"
)

// Client is a small JSON-API client on top of a Transport: a base URL,
// default headers, authentication, JSON bodies and typed responses. Every
// request goes through the Transport's limits, retries, breaker and cache.
type Client struct {
	hc      *http.Client
	tr      *Transport
	base    *url.URL
	header  http.Header
	auth    func(ctx context.Context, req *http.Request) error
	idemKey bool
	errOnly bool // WithRetryErrors
	maxBody int64
	closed  atomic.Bool
	// credHeaders are the canonical names of the headers carrying the
	// Client's credentials, removed from redirects to other hosts.
	credHeaders map[string]bool
}

// Option configures a Client.
type Option func(*Client) error

// WithBaseURL resolves every request path against u
// ("https://api.github.com/").
func WithBaseURL(u string) Option {
	return func(c *Client) error {
		p, err := url.Parse(u)
		if err != nil || p.Scheme == "" || p.Host == "" {
			return fmt.Errorf("sluice: base URL %q must be absolute (scheme and host)", u)
		}
		if !strings.HasSuffix(p.Path, "/") {
			p.Path += "/"
		}
		c.base = p
		return nil
	}
}

// WithHeader adds a header sent with every request.
func WithHeader(key, value string) Option {
	return func(c *Client) error { c.header.Add(key, value); return nil }
}

// WithUserAgent sets the User-Agent of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) error { c.header.Set("User-Agent", ua); return nil }
}

// WithBearerToken authenticates with "Authorization: Bearer <token>".
func WithBearerToken(token string) Option {
	return WithTokenFunc(func(context.Context) (string, error) { return token, nil })
}

// WithTokenFunc authenticates with a bearer token fetched before each
// request from fn, for tokens that expire and are refreshed. An
// oauth2.TokenSource fits: func(context.Context) (string, error) { t, err :=
// ts.Token(); if err != nil { return "", err }; return t.AccessToken, nil }.
func WithTokenFunc(fn func(ctx context.Context) (string, error)) Option {
	return func(c *Client) error {
		c.auth = func(ctx context.Context, req *http.Request) error {
			tok, err := fn(ctx)
			if err != nil {
				return fmt.Errorf("sluice: token: %w", err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			return nil
		}
		return nil
	}
}

// WithAPIKey sends key in the named header ("X-Api-Key") with every request.
func WithAPIKey(header, key string) Option {
	return func(c *Client) error {
		if header == "" {
			return errors.New("sluice: API key header name is empty")
		}
		c.credHeaders[http.CanonicalHeaderKey(header)] = true
		c.auth = func(_ context.Context, req *http.Request) error { req.Header.Set(header, key); return nil }
		return nil
	}
}

// WithBasicAuth authenticates with HTTP Basic credentials.
func WithBasicAuth(user, password string) Option {
	return func(c *Client) error {
		c.auth = func(_ context.Context, req *http.Request) error { req.SetBasicAuth(user, password); return nil }
		return nil
	}
}

// WithBaseTransport sends through rt instead of http.DefaultTransport. Use
// it to put an oauth2.Transport, a proxy or a test transport under sluice.
func WithBaseTransport(rt http.RoundTripper) Option {
	return func(c *Client) error { c.hc.Transport = rt; return nil }
}

// WithIdempotencyKeys gives every POST and PATCH without an Idempotency-Key
// header a random one, so that the Transport may retry them safely (for
// APIs that honour the header, such as Stripe's).
func WithIdempotencyKeys() Option {
	return func(c *Client) error { c.idemKey = true; return nil }
}

// WithMaxResponseBytes bounds the body a Client reads into a Response.
// The default is 32 MiB; a larger body is an error.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) error {
		if n <= 0 {
			return fmt.Errorf("sluice: max response bytes %d must be positive", n)
		}
		c.maxBody = n
		return nil
	}
}

// WithRetryErrors makes a request on which the Transport gave up retrying
// (Outcome.GaveUp set) return a nil Response and the *RetryError alone,
// for code that treats "sluice gave up" as a failure without a response.
// Without it, Do returns the Response and the *RetryError together; both
// ways the error matches ErrRetriesExhausted and unwraps to a
// *StatusError with the start of the body.
func WithRetryErrors() Option {
	return func(c *Client) error { c.errOnly = true; return nil }
}

// NewClient makes a Client whose requests go through a Transport built
// from cfg.
func NewClient(cfg Config, opts ...Option) (*Client, error) {
	c := &Client{hc: &http.Client{}, header: http.Header{}, maxBody: 32 << 20, credHeaders: map[string]bool{"Authorization": true}}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	tr, err := NewTransport(cfg, c.hc.Transport)
	if err != nil {
		return nil, err
	}
	c.tr = tr
	c.hc.Transport = tr
	for _, h := range cfg.Defaults.CredentialHeaders {
		c.credHeaders[http.CanonicalHeaderKey(h)] = true
	}
	for _, r := range cfg.Routes {
		for _, h := range r.CredentialHeaders {
			c.credHeaders[http.CanonicalHeaderKey(h)] = true
		}
	}
	c.hc.CheckRedirect = c.checkRedirect
	return c, nil
}

// checkRedirect follows up to 10 redirects, as http.Client does, and keeps
// every credential sluice set (the API key header, Authorization, secret
// headers from WithHeader, the Client's own credential headers) from
// leaving the origin: a redirect to another host, port or scheme is sent
// without them. http.Client itself strips only Authorization, Cookie and
// WWW-Authenticate, and keeps them for subdomains.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("sluice: stopped after 10 redirects")
	}
	from := via[0].URL
	if strings.EqualFold(req.URL.Scheme, from.Scheme) && strings.EqualFold(req.URL.Host, from.Host) {
		return nil
	}
	for name := range req.Header {
		if redact.IsSecretHeader(name) || c.credHeaders[http.CanonicalHeaderKey(name)] {
			req.Header.Del(name)
		}
	}
	return nil
}

// Transport returns the Client's Transport, for its Stats.
func (c *Client) Transport() *Transport { return c.tr }

// Close releases the Client: further requests fail with ErrClosed and idle
// connections are closed. No goroutine of the Client outlives Close.
func (c *Client) Close() error {
	c.closed.Store(true)
	return c.tr.Close()
}

// Response is a response read in full.
type Response struct {
	// StatusCode and Status are the response's status.
	StatusCode int
	Status     string
	// Header is the response's header.
	Header http.Header
	// Body is the whole response body.
	Body []byte
	// Attempts is the number of attempts the request took (0 when served
	// from the cache).
	Attempts int
	// Waited is the time the request waited for limits, provider pauses
	// and retry backoff.
	Waited time.Duration
	// GaveUp is why the Transport stopped retrying a failed response
	// (Outcome.GaveUp), or "".
	GaveUp string
	// Duration is the time from the call to the end of the body, waits for
	// limits and retries included.
	Duration time.Duration
	// FromCache reports whether the response came from sluice's cache;
	// Stale whether that entry was past its TTL (served because the
	// upstream failed).
	FromCache, Stale bool
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("sluice: decode %s response: %w", r.Status, err)
	}
	return nil
}

// Get sends a GET with the given query parameters (nil for none).
func (c *Client) Get(ctx context.Context, path string, params url.Values) (*Response, error) {
	return c.Do(ctx, http.MethodGet, path, params, nil)
}

// Post sends a POST with body (see Do for how bodies are encoded).
func (c *Client) Post(ctx context.Context, path string, body any) (*Response, error) {
	return c.Do(ctx, http.MethodPost, path, nil, body)
}

// Put sends a PUT with body.
func (c *Client) Put(ctx context.Context, path string, body any) (*Response, error) {
	return c.Do(ctx, http.MethodPut, path, nil, body)
}

// Patch sends a PATCH with body.
func (c *Client) Patch(ctx context.Context, path string, body any) (*Response, error) {
	return c.Do(ctx, http.MethodPatch, path, nil, body)
}

// Delete sends a DELETE.
func (c *Client) Delete(ctx context.Context, path string) (*Response, error) {
	return c.Do(ctx, http.MethodDelete, path, nil, nil)
}

// Do sends a request and reads the whole response. body may be nil, a
// []byte, a string or an io.Reader (sent as is), or any other value,
// encoded as JSON. A status of 400 or more returns the Response and a
// *StatusError, wrapped in a *RetryError (errors.Is ErrRetriesExhausted)
// when the Transport retried or refused to retry it and gave up (see
// WithRetryErrors); other failures return a nil Response and an error
// that matches one of the package's sentinels or the context's error.
func (c *Client) Do(ctx context.Context, method, path string, params url.Values, body any) (*Response, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	req, err := c.newRequest(ctx, method, path, params, body)
	if err != nil {
		return nil, err
	}
	var out Outcome
	req = req.WithContext(WithOutcome(req.Context(), &out))
	start := time.Now()
	hr, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the Transport's own error already says what happened
		}
		return nil, err
	}
	defer hr.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hr.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("sluice: read %s response: %w", hr.Status, err)
	}
	if int64(len(data)) > c.maxBody {
		return nil, fmt.Errorf("sluice: response body larger than %d bytes", c.maxBody)
	}
	resp := &Response{
		StatusCode: hr.StatusCode, Status: hr.Status, Header: hr.Header, Body: data,
		Attempts: out.Attempts, Waited: out.Waited, GaveUp: out.GaveUp, Duration: time.Since(start),
		FromCache: out.FromCache, Stale: out.Stale,
	}
	if hr.StatusCode < 400 {
		return resp, nil
	}
	serr := &StatusError{StatusCode: hr.StatusCode, Status: hr.Status, Header: hr.Header, Body: data[:min(len(data), 4<<10)]}
	if out.GaveUp == "" {
		return resp, serr
	}
	rerr := &RetryError{Route: c.routeName(req), Attempts: out.Attempts, Reason: out.GaveUp, Wait: out.ServerWait, Err: serr}
	if c.errOnly {
		return nil, rerr
	}
	return resp, rerr
}

// routeName is the name of req's route in the Client's Transport.
func (c *Client) routeName(req *http.Request) string {
	if rt, err := c.tr.routeFor(req, requestHost(req)); err == nil {
		return rt.name
	}
	return ""
}

func (c *Client) newRequest(ctx context.Context, method, path string, params url.Values, body any) (*http.Request, error) {
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("sluice: path %q: %w", path, err)
	}
	if c.base != nil {
		u = c.base.ResolveReference(&url.URL{Path: strings.TrimPrefix(u.Path, "/"), RawQuery: u.RawQuery})
	}
	if len(params) > 0 {
		q := u.Query()
		for k, vs := range params {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	rd, ctype, err := encodeBody(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("sluice: %s %s: %w", method, path, err)
	}
	for k, vs := range c.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if c.auth != nil {
		if err := c.auth(ctx, req); err != nil {
			return nil, err
		}
	}
	if c.idemKey && (method == http.MethodPost || method == http.MethodPatch) && req.Header.Get("Idempotency-Key") == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		req.Header.Set("Idempotency-Key", hex.EncodeToString(b[:]))
	}
	return req, nil
}

// encodeBody turns a Do body into a reader the Transport can replay.
func encodeBody(body any) (io.Reader, string, error) {
	switch b := body.(type) {
	case nil:
		return nil, "", nil
	case []byte:
		return bytes.NewReader(b), "", nil
	case string:
		return strings.NewReader(b), "", nil
	case io.Reader:
		data, err := io.ReadAll(b)
		if err != nil {
			return nil, "", fmt.Errorf("sluice: read request body: %w", err)
		}
		return bytes.NewReader(data), "", nil
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, "", fmt.Errorf("sluice: encode request body: %w", err)
	}
	return bytes.NewReader(data), "application/json", nil
}

// GetJSON sends a GET through c and decodes the JSON response into a T.
func GetJSON[T any](ctx context.Context, c *Client, path string, params url.Values) (T, error) {
	var v T
	resp, err := c.Get(ctx, path, params)
	if err != nil {
		return v, err
	}
	return v, resp.JSON(&v)
}

// PostJSON sends body as JSON in a POST through c and decodes the JSON
// response into a T.
func PostJSON[T any](ctx context.Context, c *Client, path string, body any) (T, error) {
	var v T
	resp, err := c.Post(ctx, path, body)
	if err != nil {
		return v, err
	}
	return v, resp.JSON(&v)
}
