package sluice

import (
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/httpcache"
	"github.com/sluicehq/sluice/limit"
)

// Config is the declarative description of how sluice shapes traffic. The
// same struct is written in Go or loaded from YAML with LoadConfig; every
// field documents what its zero value means, and the zero Config is useful:
// it retries safely with jittered backoff, honours Retry-After and pauses a
// host's requests when it says 429, with no rate limit and no cache.
type Config struct {
	// Defaults is the policy of every route that does not set a part of its
	// own, and of requests that match no route.
	Defaults Policy `yaml:"defaults"`

	// Routes are tried in order; the first whose Match fits the request
	// gives its policy. Requests that match none use Defaults, with one
	// shared state (limits, breaker, budget) per host.
	Routes []Route `yaml:"routes"`

	// Cache bounds the response cache shared by every route whose policy
	// enables caching.
	Cache CacheLimits `yaml:"cache"`

	// Quota tunes how the Transport learns providers' quotas from their
	// response headers (routes enable it with Policy.Quota; on by default).
	Quota QuotaOptions `yaml:"quota"`

	// Redis keeps the limits marked Shared, so that every process using
	// the same Redis and Prefix draws on one quota. Nil means no Redis; a
	// Shared limit then is a configuration error.
	Redis *RedisConfig `yaml:"redis"`

	// Logger receives one record per event (see the package doc for the
	// event names). Nil discards them. It cannot be set from YAML.
	Logger *slog.Logger `yaml:"-"`

	// Shares, when set, turns on fair queueing by consumer on every
	// route's limits: requests name their consumer on the context
	// (limit.WithConsumer), wait in weighted fair order with the other
	// consumers' requests (see limit.Fair), and a consumer whose share has
	// a Cap gets at most that fraction of each of the route's rates.
	// Shares(route, consumer) is asked once per route and consumer. A cap
	// on a route whose limits are Shared is kept in Redis too, so it holds
	// across processes; fair ordering is per process. Nil means one queue
	// per limit, by priority and arrival. It cannot be set from YAML
	// (sluice proxy sets it from its consumers).
	Shares func(route, consumer string) limit.Share `yaml:"-"`
}

// Route gives a policy to the requests that match it.
type Route struct {
	// Name identifies the route in logs and Stats. Empty means
	// "route<index>".
	Name string `yaml:"name"`
	// Match selects the requests of this route.
	Match Match `yaml:"match"`
	// Policy is what the route does; parts left unset come from
	// Config.Defaults.
	Policy `yaml:",inline"`
}

// Match selects requests by host, path and method. An empty field matches
// everything.
type Match struct {
	// Host is the request's host without port, compared case-insensitively.
	// A leading "*." matches any subdomain ("*.example.com").
	Host string `yaml:"host"`
	// Path is a path prefix ("/v1/") or, when it contains '*', a pattern in
	// which '*' matches one path segment and a trailing "/**" any rest
	// ("/repos/*/*/issues", "/v1/**").
	Path string `yaml:"path"`
	// Methods lists the HTTP methods of the route (upper case). Empty means
	// all.
	Methods []string `yaml:"methods"`
}

// Policy is everything sluice does to the requests of a route. A nil
// pointer part inherits Config.Defaults; a non-nil part replaces it whole.
type Policy struct {
	// Limits are the rate limits a request must pass, all at once (a
	// request refused by one takes nothing from the others). Nil inherits;
	// an empty non-nil list means no limit.
	Limits []LimitConfig `yaml:"limits"`
	// Cost is the number of units a request takes from each weighted limit,
	// unless the request's context says otherwise (WithCost). 0 means 1.
	Cost int64 `yaml:"cost"`
	// Retry says when and how failed attempts are retried.
	Retry *RetryConfig `yaml:"retry"`
	// Circuit configures the circuit breaker. Nil inherits; the default
	// policy has a breaker with CircuitConfig's defaults.
	Circuit *CircuitConfig `yaml:"circuit"`
	// Cache enables caching of GET and HEAD responses. Nil inherits; the
	// default is no cache.
	Cache *CacheConfig `yaml:"cache"`
	// Concurrency caps the requests of the route in flight at once. 0
	// inherits; the default is no cap. -1 removes an inherited cap.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one attempt (connect, send, headers and body read).
	// 0 inherits; the default is no timeout beyond the request's context.
	Timeout time.Duration `yaml:"timeout"`
	// Coalesce makes identical concurrent GETs share one upstream call.
	// Nil inherits; the default is on for routes with a cache and off for
	// the others (it costs a goroutine and a buffered body per GET).
	Coalesce *bool `yaml:"coalesce"`
	// Quota says how the route learns the provider's quota from its
	// responses. Nil inherits; the default reads every known dialect and
	// paces to it, and finds the rate of hosts that send bare 429s.
	Quota *QuotaConfig `yaml:"quota"`
	// CredentialHeaders names request headers that identify a user or
	// tenant without being on sluice's list of secret headers
	// (X-Session-Id, X-Tenant, ...). Like Authorization, Cookie, *-Key and
	// *Token* headers, they are part of the cache and coalescing key as a
	// salted fingerprint, so requests that differ in them never share a
	// cached or coalesced response. Nil inherits; the default is none.
	CredentialHeaders []string `yaml:"credential_headers"`
	// MaxWait is the longest one attempt waits for what a provider said
	// (the route's pause after a Retry-After, a learned quota's reset or
	// pace, rate discovery). A longer wait fails at once with a
	// *RateLimitError naming the bucket, the wait and this setting. 0
	// inherits; the default is the route's Retry.MaxRetryAfter (60s).
	// Waits on the route's own Limits are the caller's schedule and are
	// bounded by the request's context only.
	MaxWait time.Duration `yaml:"max_wait"`
}

// QuotaConfig says how a route learns the provider's real quota from its
// responses (see package quota).
type QuotaConfig struct {
	// Disabled turns learning off for the route: only its configured
	// limits and Retry-After pace it.
	Disabled bool `yaml:"disabled"`
	// Dialect is the header dialect to read: "auto" (the default: detect
	// per response), "none" (read nothing), "retry-after", "ietf", "github", "openai",
	// "anthropic", "x", "reddit", "discord", "shopify", "azure", "gitlab"
	// or "generic".
	Dialect string `yaml:"dialect"`
}

// QuotaOptions tune quota learning for the whole Transport.
type QuotaOptions struct {
	// BurstFraction is the share of a fixed window's quota that may be
	// sent back to back before the rest is spread evenly to the window's
	// reset. Nil means 1: a job that fits in what remains runs at full
	// speed, and one that does not pauses at zero until the reset (never
	// drawing a 429 either way). 0 spreads evenly from the first request
	// (smoother, but a short job against an hourly quota then takes
	// minutes); at most 1.
	BurstFraction *float64 `yaml:"burst_fraction"`
	// MaxBuckets bounds the quota buckets remembered over all hosts. 0
	// means 1024.
	MaxBuckets int `yaml:"max_buckets"`
	// Adaptive configures the rate discovery for hosts that throttle
	// without quota headers.
	Adaptive AdaptiveConfig `yaml:"adaptive"`
}

// AdaptiveConfig configures rate discovery (CUBIC, as in the AWS SDKs'
// adaptive retry mode) for hosts that send bare 429s.
type AdaptiveConfig struct {
	// Disabled turns rate discovery off.
	Disabled bool `yaml:"disabled"`
	// InitialRate is the rate, in requests per second, to fall back to at
	// a host's first bare throttle. 0 means the rate measured until then.
	InitialRate float64 `yaml:"initial_rate"`
	// MinRate is the lowest rate discovery goes down to. 0 means 0.5/s.
	MinRate float64 `yaml:"min_rate"`
	// MaxRate caps the discovered rate. 0 means no cap.
	MaxRate float64 `yaml:"max_rate"`
}

// LimitConfig is one rate limit.
type LimitConfig struct {
	// Rate is "N/unit" with unit s, min, h or day, or "N/<duration>"
	// ("100/min", "5000/h", "50/10s"). Required.
	Rate string `yaml:"rate"`
	// Burst is how many units may be taken at once after an idle spell.
	// 0 means the rate's count (a whole window at once). Ignored by the
	// strict window, which never allows more than N in any window.
	Burst int64 `yaml:"burst"`
	// Strict selects the exact sliding window ("never more than N in any
	// window W") instead of the token bucket. Choose it for hard quotas
	// such as 100/hour that a provider counts in rolling windows.
	Strict bool `yaml:"strict"`
	// Weighted makes the limit take the request's cost (Policy.Cost, or
	// WithCost on the context, e.g. an LLM call's tokens) instead of 1 per
	// request. A cost above the burst fails at once.
	Weighted bool `yaml:"weighted"`
	// PerHost gives each host of the route its own limit. The default is
	// one limit shared by every request of the route.
	PerHost bool `yaml:"per_host"`
	// Shared keeps the limit in Redis (Config.Redis), one quota for every
	// process that uses the same Redis, prefix and route name. It cannot be
	// combined with PerHost.
	Shared bool `yaml:"shared"`
}

// RedisConfig says how to reach the Redis that keeps shared limits, and
// what to do when it cannot be reached.
type RedisConfig struct {
	// Addr is the host:port of a single Redis node.
	Addr string `yaml:"addr"`
	// Addrs are the seed nodes of a Redis Cluster, or the sentinels when
	// MasterName is set. Exactly one of Addr and Addrs is required, unless
	// Client is set.
	Addrs []string `yaml:"addrs"`
	// Mode is "single", "cluster" or "sentinel". Empty means sentinel
	// when MasterName is set, else single; several addrs then need an
	// explicit mode. The mode is never guessed from the number of
	// addresses: one seed node is a valid cluster.
	Mode string `yaml:"mode"`
	// MasterName is the Sentinel master name.
	MasterName string `yaml:"master_name"`
	// Username is the ACL user name, if any.
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password, so
	// the password never sits in a configuration file.
	PasswordEnv string `yaml:"password_env"`
	// DB is the database number (single node and Sentinel only).
	DB int `yaml:"db"`
	// Prefix starts every key sluice writes. Empty means "sluice".
	Prefix string `yaml:"prefix"`
	// Timeout bounds one Redis decision; a slower answer counts as a
	// failure. 0 means 50ms.
	Timeout time.Duration `yaml:"timeout"`
	// OnFailure is what a shared limit does while Redis fails: "local"
	// (the default: a limit in this process at the rate divided by
	// ExpectedWorkers), "deny" (requests fail with ErrRateLimited) or
	// "allow" (no limit until Redis is back).
	OnFailure string `yaml:"on_failure"`
	// ExpectedWorkers is the number of processes sharing the limits, used
	// to split the rate under OnFailure "local". 0 means 1.
	ExpectedWorkers int `yaml:"expected_workers"`
	// Lease lets a process take up to this many units per Redis round trip
	// and spend them locally (for high rates). 0 or 1 means none: every
	// decision is one round trip. See package limit/redislimit for the
	// overshoot a lease allows.
	Lease int64 `yaml:"lease"`
	// TLS, when present, makes every connection use TLS (a rediss:// addr
	// does too, in single mode).
	TLS *RedisTLSConfig `yaml:"tls"`
	// Client, when set, is used instead of connecting with the fields
	// above (which are then ignored). sluice does not close it. It cannot
	// be set from YAML.
	Client redis.UniversalClient `yaml:"-"`
}

// RedisTLSConfig is the tls: part of the redis section. Its presence turns
// TLS on; the fields are optional.
type RedisTLSConfig struct {
	// CAFile is a PEM file of the certificate authorities to trust.
	// Empty means the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that require one (tls-auth-clients). Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name to verify in the server's certificate.
	// Empty means the host of the address dialed.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns off certificate verification (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// RetryConfig says when and how failed attempts are retried.
type RetryConfig struct {
	// MaxAttempts is the total number of attempts, the first included.
	// 0 means 5 (enough that 15% failed attempts lose about 1 request
	// in 100,000); 1 disables retries.
	MaxAttempts int `yaml:"max_attempts"`
	// BaseDelay is the first backoff. 0 means 100ms.
	BaseDelay time.Duration `yaml:"base_delay"`
	// MaxDelay caps one backoff. 0 means 10s.
	MaxDelay time.Duration `yaml:"max_delay"`
	// Jitter is "full" (default), "decorrelated", "equal" or "none".
	Jitter string `yaml:"jitter"`
	// MaxRetryAfter caps the wait a server may ask for with Retry-After;
	// a longer ask is not waited for: the response is returned at once,
	// marked "X-Sluice-Gave-Up: retry-after too long". 0 means 60s.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// NonIdempotent allows retrying POST and PATCH without an
	// Idempotency-Key header. Off by default: a retried POST may act twice.
	NonIdempotent bool `yaml:"non_idempotent"`
	// Budget limits retries to a share of the request rate, so a failing
	// upstream does not get a retry storm. Nil means the default budget
	// (20% of requests, at least 10 retries per second, over 10s).
	Budget *BudgetConfig `yaml:"budget"`
}

// BudgetConfig is a retry budget.
type BudgetConfig struct {
	// Ratio is the share of requests that may be retried, 0..1. 0 means 0.2.
	Ratio float64 `yaml:"ratio"`
	// MinPerSecond is the floor of retries per second, so that routes with
	// little traffic can still retry. 0 means 10.
	MinPerSecond float64 `yaml:"min_per_second"`
	// TTL is the window over which requests are counted. 0 means 10s.
	TTL time.Duration `yaml:"ttl"`
}

// CircuitConfig configures a circuit breaker.
type CircuitConfig struct {
	// Disabled turns the breaker off.
	Disabled bool `yaml:"disabled"`
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row. 0 means 5.
	ConsecutiveFailures uint32 `yaml:"consecutive_failures"`
	// FailureRatio opens the breaker when this share of the requests in
	// Window failed, once there were at least MinRequests. 0 disables the
	// ratio rule.
	FailureRatio float64 `yaml:"failure_ratio"`
	// MinRequests is the volume below which FailureRatio is not applied.
	// 0 means 20.
	MinRequests uint32 `yaml:"min_requests"`
	// Window is the rolling window of FailureRatio. 0 means 30s.
	Window time.Duration `yaml:"window"`
	// OpenTimeout is how long the breaker stays open before it lets probes
	// through. 0 means 30s.
	OpenTimeout time.Duration `yaml:"open_timeout"`
	// HalfOpenProbes is how many requests are let through while half-open.
	// 0 means 1.
	HalfOpenProbes uint32 `yaml:"half_open_probes"`
	// PerHost gives each host of the route its own breaker. The default is
	// one breaker per route.
	PerHost bool `yaml:"per_host"`
	// TripOn429 counts 429 responses as failures. Off by default: a 429 is
	// flow control, handled by the limits and retries, not sickness.
	TripOn429 bool `yaml:"trip_on_429"`
}

// CacheConfig enables the response cache for a route.
type CacheConfig struct {
	// TTL is how long a response stays fresh at most (a response's max-age
	// may shorten it). 0 disables caching. A stale entry with an ETag or
	// Last-Modified is revalidated with a conditional request, which goes
	// through the route's limits, breaker and retries like any request; a
	// 304 refreshes it (see package httpcache).
	TTL time.Duration `yaml:"ttl"`
	// StaleIfError serves an expired entry no older than this past its
	// expiry when the upstream fails or the breaker is open; the response
	// carries "X-Sluice-Cache: stale". 0 disables it. Entries whose
	// response said must-revalidate or no-cache are never served stale.
	StaleIfError time.Duration `yaml:"stale_if_error"`
	// Vary names request headers that are part of the cache key besides
	// the method, the URL and the credential (e.g. Accept). A response's
	// own Vary header is honoured too, one entry per variant.
	Vary []string `yaml:"vary"`
}

// CacheLimits chooses and bounds the response cache shared by every route
// whose policy enables caching.
type CacheLimits struct {
	// MaxEntries is the most responses held by the memory store. 0 means
	// 1000.
	MaxEntries int `yaml:"max_entries"`
	// MaxBytes is the most bytes of bodies and headers held by the memory
	// store. 0 means 64 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// Store is where entries live: "memory" (the default), this process's
	// LRU bounded by MaxEntries and MaxBytes; or "redis", the Redis of the
	// redis section, shared by every process using the same Prefix and
	// SaltEnv, so that replicas and workers share one cache and coalesce
	// their fetches (see package httpcache/rediscache). A failing Redis
	// never fails a request: the cache is skipped (a miss) and the error
	// counted in RouteStats.CacheStoreErrors.
	Store string `yaml:"store"`
	// Prefix starts the Redis keys of the cache (store redis). Empty means
	// the redis section's prefix ("sluice" by default) followed by
	// ":cache".
	Prefix string `yaml:"prefix"`
	// MaxEntryBytes is the largest response kept: its body, and with store
	// redis its serialized entry (body and header). 0 means MaxBytes/8 with
	// store memory and 1 MiB with store redis or a Backend.
	MaxEntryBytes int64 `yaml:"max_entry_bytes"`
	// SaltEnv names the environment variable holding the secret salt (at
	// least 16 bytes) that keys the credential fingerprints of cache keys
	// (HMAC-SHA256), so that a shared store holds no unsalted hash of a
	// credential and every process sharing it computes the same keys.
	// Required with store redis (unless Salt is set). Empty with store
	// memory means a random salt per process.
	SaltEnv string `yaml:"salt_env"`
	// Retain is how long an expired entry that has a validator (ETag or
	// Last-Modified) stays in the store, to be revalidated with a
	// conditional request. Entries without one stay until their
	// stale_if_error or stale-while-revalidate window ends. 0 means 24h.
	Retain time.Duration `yaml:"retain"`
	// LockTTL is the lifetime of the Redis lock a process takes while it
	// fetches or revalidates an entry (store redis), so that the others
	// wait for its result instead of fetching too; a holder that dies
	// blocks them no longer than this. 0 means 5s.
	LockTTL time.Duration `yaml:"lock_ttl"`
	// LockWait is the longest a request waits for another process's fetch
	// of the same entry before it fetches itself. 0 means LockTTL.
	LockWait time.Duration `yaml:"lock_wait"`
	// Backend, when set, is the store used instead of the one Store names
	// (Store must then be empty). If it implements httpcache.Locker,
	// fetches are coalesced through its locks. It cannot be set from YAML.
	Backend httpcache.Store `yaml:"-"`
	// Salt, when set, is the fingerprint salt instead of SaltEnv's
	// variable. It cannot be set from YAML.
	Salt []byte `yaml:"-"`
}
