// Command goodput measures how close HTTP clients get to a rate-limited
// provider's real limit without being told it (issue 5).
//
// For each header dialect (none, retry-after, github, openai, ietf, shopify)
// it starts a [sluicetest.Server] on loopback whose hidden limit allows 50
// requests a second with a burst of 10 (a token bucket; a fixed window of 50
// per second for github; a leaky bucket of 10 draining 50/s for shopify), and
// runs the same job through each client: N GET requests to distinct paths,
// with C workers. The provider is reset between clients. Its clock is the wall
// clock without monotonic readings (see wallClock), which keeps its fixed
// windows and GitHub resets exact. Each run is bounded
// by a timeout; requests not finished by then count as failures.
//
// The clients:
//
//   - sluice: a sluice.Transport with no rate configured and up to 10
//     attempts; it must learn the quota from headers or find the rate from
//     bare throttles.
//   - sluice-rate: the same, told the provider's rate: a limit of 50/s
//     with burst 10 (the github provider's fixed window cannot be stated
//     as a token bucket; that limit then binds).
//   - failsafe-rate: failsafe-go's smooth rate limiter at 50/s inside its
//     HTTP retry policy.
//   - retryablehttp: go-retryablehttp's NewClient().StandardClient() with its
//     defaults (4 retries, 1s..30s backoff honouring Retry-After on 429/503),
//     logging off.
//   - failsafe: failsafe-go's failsafehttp.NewRetryPolicyBuilder() defaults
//     (2 retries, no delay unless an integer Retry-After is sent) plus
//     ReturnLastFailure, so that the last throttle comes back as a response.
//   - resty: resty v2 with SetRetryCount(3) and a retry condition on 429 and
//     5xx (v2 retries only transport errors by default and has no built-in
//     Retry-After parsing, so it waits its default jittered 100ms..2s backoff).
//   - oracle: a plain http.Client paced by golang.org/x/time/rate at the true
//     limit (rate.NewLimiter(50, 10)), with no retries: what a client that
//     knew the limit would achieve.
//
// Every client gets its own http.Transport keeping Concurrency idle
// connections to the host.
//
// Goodput is the least time the limit permits ((requests - burst 10) / 50
// req/s; for github's fixed window, ceil(requests/50) - 1 s less how far into
// its first window the job started) divided by the wall time, counting only
// the requests answered with a 2xx (so failing fast does not score); 1.00 is
// the best possible.
// The table shows the throttles the provider sent (429s, GitHub's 403s) and the
// failures: requests whose final answer was an error or not 2xx, or that did
// not finish in time. For sluice rows it checks issue 5's targets: goodput
// >= 0.90 with throttles <= 2% of requests where the dialect sends quota
// headers on every response (github, openai, ietf, shopify); goodput >= 0.80
// where it does not and the rate must be found from throttles (none,
// retry-after); zero failures everywhere.
//
// Usage, from the bench module:
//
//	go run ./goodput [-requests 600] [-concurrency 16] [-timeout 90s]
//	    [-dialects none,retry-after,github,openai,ietf,shopify]
//	    [-clients sluice,retryablehttp,failsafe,resty,oracle]
package main
