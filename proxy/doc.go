// Package proxy is sluice's egress gateway as a library: a Handler, built
// from a Config, that runs the sluice pipeline (limits, quota learning,
// retries, breaker, cache, coalescing, Redis-shared limits) on the traffic
// of clients in any language, in the way httputil.ReverseProxy is a
// struct-as-config handler.
//
// Ways in: base-URL mode (an upstream mounted on a path prefix or a virtual
// host, which is what SDKs' base-URL settings use), forward-proxy mode for
// http:// URLs (HTTP_PROXY) and CONNECT tunnels for https:// (HTTPS_PROXY),
// which are admitted or refused by host and counted but cannot be shaped.
//
// Every client authenticates with a token mapped to a consumer; upstreams
// are default-deny, their addresses are resolved, classified (no loopback,
// private, link-local, CGNAT, ... unless allowed) and pinned by package
// egress; a provider credential is injected by the proxy, never forwarded
// from or to a client, never logged, and cached or coalesced answers are
// kept apart per consumer. A request over a limit waits for its turn up to
// Sluice-Max-Wait; one that cannot be served in time gets 429 with
// Retry-After, RateLimit headers and an RFC 9457 problem body.
//
// Plain-HTTP upstreams are reached through the proxy's own HTTP/1.1 client,
// which runs each exchange on the request's goroutine; https:// upstreams
// through net/http's Transport (verified TLS, HTTP/2 where offered).
//
// cmd/sluice's "sluice proxy -config FILE" runs a Handler with its admin
// listener (/healthz, /readyz, /metrics, /status), SIGTERM draining and
// SIGHUP reloads; docs/proxy.md is the guide.
package proxy
