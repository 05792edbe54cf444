package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/egress"
	"github.com/sluicehq/sluice/internal/h1"
	"github.com/sluicehq/sluice/limit"
)

// Handler is the egress gateway: an http.Handler that authenticates each
// client, sends its request through the sluice pipeline to an upstream it
// is allowed to reach, and answers 429 with the limit's state only when the
// request could not be served within its wait. It is safe for concurrent
// use. Build it with New; Close releases it.
type Handler struct {
	cfg       Config
	tr        *sluice.Transport
	base      *http.Transport // https upstreams (HTTP/2 where offered) and what up does not take
	up        *h1.Transport   // plain-HTTP upstreams
	dialer    *egress.Dialer
	ups       []*upstream
	fwd       egress.ACL
	fwdPolicy *egress.Policy
	tokens    map[[sha256.Size]byte]string // token hash -> consumer
	log       *slog.Logger
	limits    map[string]limitInfo // route name -> first limit
	stats     counters
	met       *meter // /metrics counts Stats does not keep
	hist      *history
	fair      bool                 // requests carry their consumer to the pipeline's limits
	consumers map[string]*Consumer // by name
	draining  atomic.Bool
	accessLog bool // one record per request, not only refusals

	inflight flights
	mu       sync.Mutex
	tunnels  map[net.Conn]struct{} // guarded by mu
}

type upstream struct {
	Upstream
	target     *url.URL
	targetHost string // normalized host of target
	credHeader string
	credValue  string // never logged
	policy     *egress.Policy
}

type limitInfo struct {
	quota  int64
	window time.Duration
}

// New builds a Handler from cfg: it validates cfg, reads every token and
// credential (an empty or missing one is an error naming it) and builds the
// pipeline from cfg.Pipeline over egress-checked upstream transports (the
// proxy's own HTTP/1.1 client for http://, net/http's Transport for https://).
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	h := &Handler{
		cfg:     c,
		fwd:     egress.ACL{Allow: c.Forward.Allow, Deny: c.Forward.Deny},
		tokens:  map[[sha256.Size]byte]string{},
		log:     c.Logger,
		limits:  map[string]limitInfo{},
		tunnels: map[net.Conn]struct{}{},
	}
	h.accessLog = c.AccessLog == nil || *c.AccessLog
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.fwdPolicy = &egress.Policy{Allow: classes(c.Forward.AllowClasses), Self: c.Self}
	for i, cs := range c.Consumers {
		tok, err := secret(getenv, cs.TokenEnv, cs.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("proxy: consumers[%d] (%s): %w", i, cs.Name, err)
		}
		sum := sha256.Sum256([]byte(tok))
		if other, dup := h.tokens[sum]; dup {
			return nil, fmt.Errorf("proxy: consumers[%d] (%s) has the same token as %s; give each consumer its own", i, cs.Name, other)
		}
		h.tokens[sum] = cs.Name
	}
	for i, u := range c.Upstreams {
		up, err := newUpstream(u, getenv, c.Self)
		if err != nil {
			return nil, fmt.Errorf("proxy: upstreams[%d] (%s): %w", i, u.Name, err)
		}
		h.ups = append(h.ups, up)
	}
	for _, r := range c.Pipeline.Routes {
		if len(r.Limits) > 0 {
			if rate, err := limit.ParseRate(r.Limits[0].Rate); err == nil && rate.Count > 0 {
				h.limits[r.Name] = limitInfo{quota: rate.Count, window: rate.Period}
			}
		}
	}
	h.dialer = &egress.Dialer{Policy: h.policyFor, Resolver: c.Resolver, Dialer: c.Dialer, CacheTTL: max(c.DNSCacheTTL, 0)}
	h.base = &http.Transport{
		DialContext:       h.dialer.DialContext,
		TLSClientConfig:   c.TLSClientConfig,
		ForceAttemptHTTP2: true,
		// The client's Accept-Encoding goes to the provider as it is: no
		// gzip asked for on its behalf, and no answer decompressed here.
		DisableCompression:     true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	pipe := c.Pipeline
	if pipe.Logger == nil {
		pipe.Logger = c.Logger
	}
	h.consumers = map[string]*Consumer{}
	for i := range c.Consumers {
		h.consumers[c.Consumers[i].Name] = &c.Consumers[i]
	}
	if h.fair = c.fair(); h.fair && pipe.Shares == nil {
		pipe.Shares = h.shares
	}
	h.up = &h1.Transport{
		DialContext:            h.dialer.DialContext,
		Fallback:               omitConsumer{h.base},
		MaxIdlePerHost:         h.base.MaxIdleConnsPerHost,
		MaxIdle:                h.base.MaxIdleConns,
		IdleTimeout:            h.base.IdleConnTimeout,
		MaxResponseHeaderBytes: h.base.MaxResponseHeaderBytes,
		Omit:                   consumerHeader,
	}
	tr, err := sluice.NewTransport(pipe, sentMarker{h.up})
	if err != nil {
		return nil, fmt.Errorf("proxy: pipeline: %w", err)
	}
	h.tr = tr
	h.met = newMeter(c)
	tr.AddObserver(h.met)
	h.startHistory(time.Second)
	return h, nil
}

func newUpstream(u Upstream, getenv func(string) string, self []netip.AddrPort) (*upstream, error) {
	t, _ := url.Parse(u.Target) // validated
	t.Path = strings.TrimSuffix(t.Path, "/")
	t.RawPath = strings.TrimSuffix(t.RawPath, "/")
	up := &upstream{Upstream: u, target: t, targetHost: egress.Normalize(t.Hostname())}
	up.policy = &egress.Policy{Allow: classes(u.Allow), Self: self}
	for _, s := range u.AllowPrefixes {
		up.policy.AllowPrefixes = append(up.policy.AllowPrefixes, netip.MustParsePrefix(s))
	}
	if cr := u.Credential; cr != nil {
		v, err := secret(getenv, cr.Env, cr.File)
		if err != nil {
			return nil, fmt.Errorf("credential: %w", err)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			// It could not be sent in a header: refused now, not per request.
			return nil, errors.New("credential: the value holds a control character (a line break inside it?); keep it on one line")
		}
		up.credHeader = http.CanonicalHeaderKey(cr.Header)
		if up.credHeader == "" {
			up.credHeader = "Authorization"
		}
		scheme := cr.Scheme
		if scheme == "" && up.credHeader == "Authorization" {
			scheme = "Bearer"
		}
		if scheme != "" {
			v = scheme + " " + v
		}
		up.credValue = v
	}
	return up, nil
}

// secret reads a token from the environment variable env or the file.
func secret(getenv func(string) string, env, file string) (string, error) {
	if env != "" {
		v := getenv(env)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset", env)
		}
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("token file %s is empty", file)
	}
	return v, nil
}

// policyFor is the egress dialer's policy lookup: an upstream's target host
// gets that upstream's policy, a forward-allowed host the forward policy,
// any other host is refused.
func (h *Handler) policyFor(host string) (*egress.Policy, error) {
	for _, u := range h.ups {
		if u.targetHost == host {
			return u.policy, nil
		}
	}
	if h.fwd.Allowed(host) {
		return h.fwdPolicy, nil
	}
	return nil, &egress.RefusedError{Host: host, Reason: "host not allowed"}
}

// shares is the pipeline's Config.Shares: each consumer's share and
// weight on a route, from the proxy's consumers.
func (h *Handler) shares(route, consumer string) limit.Share {
	if cs := h.consumers[consumer]; cs != nil {
		return cs.shares(route)
	}
	return limit.Share{}
}

// Transport returns the pipeline the proxy sends through (for Stats).
func (h *Handler) Transport() *sluice.Transport { return h.tr }

// Close closes open tunnels, the pipeline and idle upstream connections.
func (h *Handler) Close() error {
	h.draining.Store(true)
	h.mu.Lock()
	for c := range h.tunnels {
		c.Close()
	}
	h.mu.Unlock()
	h.hist.close()
	err := h.tr.Close()
	h.up.Close()
	h.base.CloseIdleConnections()
	return err
}

// Drain makes the proxy refuse new requests (503) and answers every request
// still waiting for its turn with 503; requests already sent upstream
// finish. http.Server.Shutdown then waits for them.
func (h *Handler) Drain() {
	h.draining.Store(true)
	h.inflight.each(func(s *reqState) {
		if !s.sent.Load() {
			s.drained.Store(true)
			s.cancel()
		}
	})
}

// reqState is a request in flight: sent is set once an attempt reaches
// the upstream transport, drained when Drain ended its wait; waitedNs sums
// its waits at the route's gates (the meter's Event).
type reqState struct {
	sent     atomic.Bool
	drained  atomic.Bool
	waitedNs atomic.Int64
	cancel   context.CancelFunc
	shard    uint32 // its shard of Handler.inflight
}

type stateKey struct{}

// sentMarker marks a request's state as sent when the pipeline hands an
// attempt to the upstream transport.
type sentMarker struct{ rt http.RoundTripper }

func (m sentMarker) RoundTrip(r *http.Request) (*http.Response, error) {
	if s, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		s.sent.Store(true)
	}
	return m.rt.RoundTrip(r)
}

// omitConsumer removes consumerHeader before net/http's Transport sends a
// request (h1.Transport leaves it out itself, through its Omit).
type omitConsumer struct{ rt http.RoundTripper }

func (m omitConsumer) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, ok := r.Header[consumerHeader]; ok {
		// A shallow copy of the header without it: the values are shared,
		// and the base transport only reads them.
		hd := make(http.Header, len(r.Header))
		for k, v := range r.Header {
			if k != consumerHeader {
				hd[k] = v
			}
		}
		r2 := *r
		r2.Header = hd
		r = &r2
	}
	return m.rt.RoundTrip(r)
}

// consumerHeader carries the consumer's name through the pipeline, so the
// cache and coalescing keys (which fingerprint every credential-like
// header) are per consumer even when the proxy injects one shared provider
// credential. It never leaves: h1.Transport omits it, omitConsumer removes
// it before net/http's Transport.
const consumerHeader = "Sluice-Consumer-Credential"

// Server returns an http.Server for the proxy listener with the header
// limit and timeouts set: MaxHeaderBytes from the Config (431 beyond), a
// 10 s ReadHeaderTimeout and a 2 m IdleTimeout.
func (h *Handler) Server() *http.Server {
	return &http.Server{
		Addr:              h.cfg.Listen,
		Handler:           h,
		MaxHeaderBytes:    h.cfg.MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// Config returns the Handler's configuration with defaults filled in.
func (h *Handler) Config() Config { return h.cfg }
