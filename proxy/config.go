package proxy

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/egress"
	"github.com/sluicehq/sluice/limit"
)

// Config describes a proxy. The YAML fields load from the `proxy:` section
// of a sluice configuration file (see LoadFile); the fields marked
// `yaml:"-"` are hooks set from Go, nil meaning the default.
type Config struct {
	// Listen is the address of the proxy listener. Empty means
	// "127.0.0.1:8080". Used by Server and `sluice proxy`.
	Listen string `yaml:"listen"`
	// Admin is the address of the admin listener (/healthz, /readyz,
	// /metrics, /status). Empty means "127.0.0.1:9090".
	Admin string `yaml:"admin"`

	// Upstreams are the providers mounted in base-URL mode. A request
	// whose path starts with an upstream's Prefix, or whose Host is its
	// Host, goes to its Target; every other request that is not
	// absolute-form or CONNECT is refused (404).
	Upstreams []Upstream `yaml:"upstreams"`

	// Forward lists the hosts reachable in forward-proxy mode
	// (absolute-form http:// requests, via HTTP_PROXY) and through CONNECT
	// tunnels (HTTPS_PROXY). Empty refuses both modes.
	Forward Forward `yaml:"forward"`

	// Consumers are the clients allowed to use the proxy, each with its
	// own token. At least one is required unless AllowAnonymous is set.
	Consumers []Consumer `yaml:"consumers"`
	// AllowAnonymous lets requests without a token through as consumer
	// "anonymous". Off by default; meant for demos on loopback only.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// FairQueuing serves the requests waiting on a route's limits in
	// weighted fair order by consumer (see Consumer.Weight), so that one
	// greedy consumer cannot starve the others. Nil means on when there
	// are two or more consumers or any consumer sets share, weight or
	// routes; false turns it off (and then no consumer may set them).
	FairQueuing *bool `yaml:"fair_queuing"`

	// DefaultWait is how long a request may wait for its turn (queued
	// behind rate limits) and its answer when it does not send
	// Sluice-Max-Wait. 0 means 30s.
	DefaultWait time.Duration `yaml:"default_wait"`
	// MaxWait caps Sluice-Max-Wait. 0 means 2m.
	MaxWait time.Duration `yaml:"max_wait"`
	// MaxBodyBytes caps a request body; larger ones get 413. 0 means
	// 10 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxHeaderBytes caps the request header block (431 beyond). 0 means
	// 64 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// DrainTimeout bounds how long Shutdown waits for requests in flight.
	// 0 means 30s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// DNSCacheTTL is how long a host's looked-up addresses are kept for
	// new connections to it (upstreams, forwarded and CONNECT hosts); each
	// dial still checks them against the host's address policy and dials
	// only those that passed. 0 means 10s; a negative value looks the name
	// up on every dial.
	DNSCacheTTL time.Duration `yaml:"dns_cache_ttl"`
	// AccessLog, when false, logs only the requests that were refused or
	// failed (those with a reason, at Warn) instead of one record per
	// request. Nil means true.
	AccessLog *bool `yaml:"access_log"`

	// Pipeline is the sluice configuration run on every proxied request
	// (routes, limits, quota learning, retries, breaker, cache). It comes
	// from the top level of the configuration file.
	Pipeline sluice.Config `yaml:"-"`
	// Logger receives the access log (one record per request, credentials
	// never included) unless AccessLogWriter is set, and the pipeline's
	// events. Nil discards them.
	Logger *slog.Logger `yaml:"-"`
	// AccessLogWriter, when set, receives the access log instead of
	// Logger: one JSON line per record, with the keys and layout of slog's
	// JSONHandler, written by the proxy itself at a fraction of slog's
	// cost (sluice proxy sets it to its batched stderr). It must be safe
	// for concurrent use; each record is one Write.
	AccessLogWriter io.Writer `yaml:"-"`
	// Getenv reads the environment variables named by tokens and
	// credentials. Nil means os.Getenv.
	Getenv func(string) string `yaml:"-"`
	// Resolver and Dialer are used by the egress dialer. Nil means the
	// system resolver and a plain net.Dialer. Tests inject both.
	Resolver egress.Resolver      `yaml:"-"`
	Dialer   egress.ContextDialer `yaml:"-"`
	// TLSClientConfig is the TLS configuration for upstream connections.
	// Nil means Go's defaults: certificates are verified against the system
	// roots. InsecureSkipVerify is refused.
	TLSClientConfig *tls.Config `yaml:"-"`
	// Self lists the proxy's own listening addresses, never dialed unless
	// an upstream allows class "self". Server fills it from Listen.
	Self []netip.AddrPort `yaml:"-"`
}

// Upstream is one provider mounted in base-URL mode.
type Upstream struct {
	// Name identifies the upstream in logs. Required.
	Name string `yaml:"name"`
	// Prefix is the path the upstream is mounted on ("/openai"); the rest
	// of the path is appended to Target's. Either Prefix or Host is
	// required.
	Prefix string `yaml:"prefix"`
	// Host mounts the upstream on a virtual host: requests whose Host
	// header (port ignored) is Host go to Target.
	Host string `yaml:"host"`
	// Target is the provider's base URL ("https://api.openai.com/v1").
	// Required; http or https.
	Target string `yaml:"target"`
	// Credential, when set, is added by the proxy to every request, so
	// workers never hold the provider's key.
	Credential *Credential `yaml:"credential"`
	// Allow lists address classes this upstream may resolve to besides
	// public ones ("loopback", "private", ...; see egress.Class).
	Allow []string `yaml:"allow"`
	// AllowPrefixes lists CIDR prefixes this upstream may resolve to,
	// whatever their class ("10.1.2.0/24").
	AllowPrefixes []string `yaml:"allow_prefixes"`
}

// Credential is a provider credential the proxy injects into requests.
type Credential struct {
	// Header is the header to set. Empty means Authorization.
	Header string `yaml:"header"`
	// Env names the environment variable holding the secret. Env or File
	// is required.
	Env string `yaml:"env"`
	// File names a file holding the secret (trailing newline dropped).
	File string `yaml:"file"`
	// Scheme is written before the secret ("Bearer" gives
	// "Bearer <secret>"). Empty writes the secret alone, except for
	// Authorization, where it means "Bearer".
	Scheme string `yaml:"scheme"`
	// ClientOverride lets a client send its own value of Header, which
	// then replaces the injected one. Off: such a request gets 403.
	ClientOverride bool `yaml:"client_override"`
}

// Consumer is one client of the proxy.
type Consumer struct {
	// Name identifies the consumer in logs and metrics. Required.
	Name string `yaml:"name"`
	// TokenEnv names the environment variable holding the consumer's
	// token; TokenFile names a file holding it. One is required.
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// Share caps the consumer to this fraction, in (0, 1], of each of
	// every limited route's rates, even when no other consumer wants the
	// rest (a hard cap). 0 means no cap. A request the cap cannot serve
	// within its wait gets 429 consumer_share.
	Share float64 `yaml:"share"`
	// Weight is the consumer's weight in fair queueing: while several
	// consumers wait on a route, each is served in proportion to its
	// weight. 0 means 1.
	Weight float64 `yaml:"weight"`
	// Routes overrides Share and Weight on the routes it names (the
	// pipeline's route names); a field left 0 there keeps the consumer's.
	// Share 1 lifts the cap on that route.
	Routes map[string]RouteShare `yaml:"routes"`
}

// RouteShare is a consumer's share and weight on one route.
type RouteShare struct {
	// Share caps the consumer on this route; see Consumer.Share.
	Share float64 `yaml:"share"`
	// Weight is the consumer's fair-queueing weight on this route.
	Weight float64 `yaml:"weight"`
}

// shares returns the consumer's share of route as a limit.Share.
func (cs *Consumer) shares(route string) limit.Share {
	sh, w := cs.Share, cs.Weight
	if o, ok := cs.Routes[route]; ok {
		if o.Share != 0 {
			sh = o.Share
		}
		if o.Weight != 0 {
			w = o.Weight
		}
	}
	if sh >= 1 {
		sh = 0
	}
	return limit.Share{Weight: w, Cap: sh}
}

// fair reports whether fair queueing is on (see FairQueuing).
func (c *Config) fair() bool {
	if c.FairQueuing != nil {
		return *c.FairQueuing
	}
	if len(c.Consumers) >= 2 {
		return true
	}
	for _, cs := range c.Consumers {
		if cs.Share != 0 || cs.Weight != 0 || len(cs.Routes) > 0 {
			return true
		}
	}
	return false
}

// Forward configures forward-proxy and CONNECT modes.
type Forward struct {
	// Allow lists the hosts reachable ("api.github.com", "*.example.com").
	Allow []string `yaml:"allow"`
	// Deny lists hosts refused even when Allow matches.
	Deny []string `yaml:"deny"`
	// ConnectPorts lists the ports CONNECT may reach. Empty means [443].
	ConnectPorts []int `yaml:"connect_ports"`
	// AllowClasses lists address classes forwarded hosts may resolve to
	// besides public ones.
	AllowClasses []string `yaml:"allow_classes"`
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Listen == "" {
		d.Listen = "127.0.0.1:8080"
	}
	if d.Admin == "" {
		d.Admin = "127.0.0.1:9090"
	}
	if d.DefaultWait == 0 {
		d.DefaultWait = 30 * time.Second
	}
	if d.MaxWait == 0 {
		d.MaxWait = 2 * time.Minute
	}
	if d.MaxBodyBytes == 0 {
		d.MaxBodyBytes = 10 << 20
	}
	if d.MaxHeaderBytes == 0 {
		d.MaxHeaderBytes = 64 << 10
	}
	if d.DrainTimeout == 0 {
		d.DrainTimeout = 30 * time.Second
	}
	if d.DNSCacheTTL == 0 {
		d.DNSCacheTTL = 10 * time.Second
	}
	if len(d.Forward.ConnectPorts) == 0 {
		d.Forward.ConnectPorts = []int{443}
	}
	return d
}

// Validate reports every problem in c, each a *sluice.ConfigError with a
// field path under "proxy", joined; nil when c is usable. Secrets are not
// read here (New reads them).
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &sluice.ConfigError{Field: "proxy." + field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.DefaultWait < 0 || c.MaxWait < 0 || c.DrainTimeout < 0 {
		add("default_wait", "waits and timeouts must not be negative")
	}
	if c.MaxBodyBytes < 0 || c.MaxHeaderBytes < 0 {
		add("max_body_bytes", "size limits must not be negative")
	}
	if len(c.Consumers) == 0 && !c.AllowAnonymous {
		add("consumers", "at least one consumer with a token is required (or allow_anonymous: true, for demos only)")
	}
	routes := make([]string, len(c.Pipeline.Routes))
	for i, r := range c.Pipeline.Routes {
		routes[i] = cmp.Or(r.Name, fmt.Sprintf("route%d", i))
	}
	names := map[string]bool{}
	for i, cs := range c.Consumers {
		p := fmt.Sprintf("consumers[%d]", i)
		switch {
		case cs.Name == "":
			add(p+".name", "is required")
		case names[cs.Name]:
			add(p+".name", "%q is already a consumer's name", cs.Name)
		}
		names[cs.Name] = true
		if (cs.TokenEnv == "") == (cs.TokenFile == "") {
			add(p, "set exactly one of token_env and token_file")
		}
		validShare(add, p, cs.Share, cs.Weight)
		if c.FairQueuing != nil && !*c.FairQueuing && (cs.Share != 0 || cs.Weight != 0 || len(cs.Routes) > 0) {
			add(p, "share, weight and routes need fair queuing; remove them or fair_queuing: false")
		}
		for _, r := range slices.Sorted(maps.Keys(cs.Routes)) {
			if !slices.Contains(routes, r) {
				add(p+".routes."+r, "no pipeline route is named %q (routes: %s)", r, strings.Join(routes, ", "))
			}
			o := cs.Routes[r]
			validShare(add, p+".routes."+r, o.Share, o.Weight)
		}
	}
	seen := map[string]int{}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		if u.Name == "" {
			add(p+".name", "is required")
		}
		if u.Prefix == "" && u.Host == "" {
			add(p, "set prefix (\"/openai\") or host (a virtual host name)")
		}
		if u.Prefix != "" && (!strings.HasPrefix(u.Prefix, "/") || strings.HasSuffix(u.Prefix, "/") || hasDotSegment(u.Prefix)) {
			add(p+".prefix", "%q must start with / and not end with / (\"/openai\")", u.Prefix)
		}
		key := u.Host + " " + u.Prefix
		if j, dup := seen[key]; dup {
			add(p, "same prefix and host as upstreams[%d]", j)
		}
		seen[key] = i
		t, err := url.Parse(u.Target)
		switch {
		case u.Target == "":
			add(p+".target", "is required (\"https://api.openai.com/v1\")")
		case err != nil || (t.Scheme != "http" && t.Scheme != "https") || t.Host == "" || t.User != nil || t.RawQuery != "" || t.Fragment != "":
			add(p+".target", "%q must be an http or https URL with a host and no user, query or fragment", u.Target)
		}
		if cr := u.Credential; cr != nil && (cr.Env == "") == (cr.File == "") {
			add(p+".credential", "set exactly one of env and file")
		}
		checkClasses(add, p+".allow", u.Allow)
		for j, s := range u.AllowPrefixes {
			if _, err := netip.ParsePrefix(s); err != nil {
				add(fmt.Sprintf("%s.allow_prefixes[%d]", p, j), "%q is not a CIDR prefix (\"10.1.2.0/24\")", s)
			}
		}
	}
	for i, h := range append(append([]string{}, c.Forward.Allow...), c.Forward.Deny...) {
		if err := egress.CheckPattern(h); err != nil {
			add(fmt.Sprintf("forward.allow[%d]", i), "%v", err)
		}
	}
	for i, pt := range c.Forward.ConnectPorts {
		if pt < 1 || pt > 65535 {
			add(fmt.Sprintf("forward.connect_ports[%d]", i), "%d is not a port", pt)
		}
	}
	checkClasses(add, "forward.allow_classes", c.Forward.AllowClasses)
	if c.TLSClientConfig != nil && c.TLSClientConfig.InsecureSkipVerify {
		add("TLSClientConfig", "InsecureSkipVerify is refused: upstream TLS is always verified (add the CA to RootCAs)")
	}
	return joinErrs(errs)
}

func validShare(add func(string, string, ...any), field string, share, weight float64) {
	if share < 0 || share > 1 || math.IsNaN(share) {
		add(field+".share", "%g must be a fraction in (0, 1] of the route's rates (0.3 caps at 30%%)", share)
	}
	if weight < 0 || weight > 1000 || math.IsNaN(weight) {
		add(field+".weight", "%g must be a positive weight up to 1000 (0 means 1)", weight)
	}
}

func checkClasses(add func(string, string, ...any), field string, cs []string) {
	for j, s := range cs {
		if _, ok := egress.ParseClass(s); !ok || s == "public" {
			add(fmt.Sprintf("%s[%d]", field, j), "%q is not an address class (loopback, private, link-local, cgnat, unspecified, multicast, embedded-ipv4, reserved, self)", s)
		}
	}
}

func classes(cs []string) []egress.Class {
	var out []egress.Class
	for _, s := range cs {
		if c, ok := egress.ParseClass(s); ok {
			out = append(out, c)
		}
	}
	return out
}

func hasDotSegment(p string) bool {
	for s := range strings.SplitSeq(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}
