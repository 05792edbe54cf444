package main

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// scenario is one situation the demo puts a plain client and sluice in.
type scenario struct {
	name  string // the -scenario value
	title string // one line: the provider and the job
	look  string // what to look at in the result

	provider sluicetest.Options
	// throttle says whether a provider answer is its throttle (429, or the
	// dialect's 403/503 form); injected faults are not throttles.
	throttle func(status int, h http.Header) bool

	// limitRate is the provider's per-second limit drawn on the chart; 0
	// draws none (an hourly quota has no meaningful per-second line).
	limitRate float64
	// least is the least time the provider's limit permits for the whole
	// job, sent without a cache: the yardstick for "as fast as allowed".
	least time.Duration

	job job
	// limits are the route's limits in the "rate set" run: the provider's
	// true limit, as a user who read the API's documentation would write it.
	limits []sluice.LimitConfig
	// tune adjusts the demo route of both sluice runs (concurrency cap, ...).
	tune func(*sluice.Route)
	// no429 says that sluice must not draw a single throttle here: the
	// provider states its quota in headers, or the rate is configured.
	// learnNo429 is the same for the run that learns the rate.
	no429, learnNo429 bool
}

// job is the work each client is given.
type job struct {
	requests    int
	concurrency int
	method      string  // GET, or POST with an Idempotency-Key per request
	popular     float64 // share of GETs for one popular (cacheable) resource
	// cost, when set, is the tokens request i spends (an LLM call): sent in
	// sluicetest.CostHeader and, through sluice, with sluice.WithCost.
	cost func(i int) int64
}

// scenarioNames lists the scenarios, for -h and errors.
func scenarioNames() string {
	return "bucket, github-hourly, github-secondary, llm-tokens, flaky"
}

// bucketLeast is the least time a token or leaky bucket of the given rate
// and burst permits for n units, starting full.
func bucketLeast(n, burst, rate float64) time.Duration {
	return time.Duration(max(0, n-burst) / rate * float64(time.Second))
}

// newScenario builds the named scenario; o supplies the bucket scenario's
// provider flags and the job's size.
func newScenario(name string, o demoOptions) (scenario, error) {
	switch name {
	case "bucket", "":
		return bucketScenario(o)
	case "github-hourly":
		return githubHourly(o), nil
	case "github-secondary":
		return githubSecondary(o), nil
	case "llm-tokens":
		return llmTokens(o), nil
	case "flaky":
		return flaky(o), nil
	}
	return scenario{}, fmt.Errorf("-scenario %q: want one of %s", name, scenarioNames())
}

func statusThrottle(codes ...int) func(int, http.Header) bool {
	return func(status int, _ http.Header) bool {
		for _, c := range codes {
			if status == c {
				return true
			}
		}
		return false
	}
}

// bucketScenario is the classic: a provider limit of -rate and -burst of
// the -limit kind, reported in -dialect.
func bucketScenario(o demoOptions) (scenario, error) {
	dialect, err := sluicetest.ParseDialect(o.dialect)
	if err != nil {
		return scenario{}, fmt.Errorf("-dialect: %w", err)
	}
	plim, slim, burst, err := o.providerLimit()
	if err != nil {
		return scenario{}, err
	}
	s := scenario{
		name:      "bucket",
		provider:  sluicetest.Options{Limit: plim, Dialect: dialect},
		limitRate: o.rate,
		job:       job{requests: o.requests, concurrency: o.concurrency, method: http.MethodGet, popular: o.popular},
		limits:    []sluice.LimitConfig{slim},
		no429:     true,
		// Without quota headers sluice finds the rate from the 429s.
		learnNo429: dialect != sluicetest.DialectNone && dialect != sluicetest.DialectRetryAfter &&
			dialect != sluicetest.DialectRetryAfterDate && dialect != sluicetest.DialectNginx,
	}
	s.title = fmt.Sprintf("%s, reported as %s; %d GETs from %d goroutines", plim, dialect, o.requests, o.concurrency)
	s.look = "the plain client bursts into the limit and loses most of its work to 429s; " +
		"both sluice runs ride the limit line to the end and lose nothing"
	s.throttle = statusThrottle(http.StatusTooManyRequests)
	switch dialect {
	case sluicetest.DialectGitHub:
		s.throttle = statusThrottle(http.StatusTooManyRequests, http.StatusForbidden)
	case sluicetest.DialectNginx:
		s.throttle = statusThrottle(http.StatusServiceUnavailable)
	}
	n := float64(o.requests)
	if o.kind == "fixed-window" {
		per := math.Max(1, math.Floor(o.rate))
		s.least = time.Duration(math.Ceil(n/per)-1) * time.Second
	} else {
		s.least = bucketLeast(n, burst, o.rate)
	}
	return s, nil
}

// githubHourly is a GitHub-style hourly quota with plenty left: the job
// fits in what remains, so nothing should slow it down.
func githubHourly(o demoOptions) scenario {
	const quota = 5000
	n := min(o.requests, 1000)
	return scenario{
		name:     "github-hourly",
		title:    fmt.Sprintf("GitHub-style quota of %d per hour, fresh; %d GETs from %d goroutines", quota, n, o.concurrency),
		look:     "the job fits in the hour's quota: sluice finishes about as fast as the plain client, with no 429s",
		provider: sluicetest.Options{Limit: sluicetest.FixedWindow(quota, time.Hour), Dialect: sluicetest.DialectGitHub, Faults: sluicetest.Faults{Latency: 5 * time.Millisecond}},
		throttle: statusThrottle(http.StatusTooManyRequests, http.StatusForbidden),
		job:      job{requests: n, concurrency: o.concurrency, method: http.MethodGet},
		limits:   []sluice.LimitConfig{{Rate: fmt.Sprintf("%d/h", quota), Strict: true}},
		no429:    true, learnNo429: true,
	}
}

// githubSecondary is GitHub's secondary limit: plenty of hourly quota, but
// more than a few requests at once get a 403 and a penalty. The fix GitHub
// documents, and sluice's route setting for it, is a concurrency cap.
func githubSecondary(o demoOptions) scenario {
	const maxConc, capConc, latency = 10, 8, 40 * time.Millisecond
	n := min(o.requests, 300)
	return scenario{
		name: "github-secondary",
		title: fmt.Sprintf("GitHub-style secondary limit: more than %d requests at once draw a 403 and a 1 s penalty; %d GETs (%v each) from %d goroutines",
			maxConc, n, latency, o.concurrency),
		look: fmt.Sprintf("the plain client trips the secondary limit again and again; sluice's route caps concurrency at %d (concurrency: %d) and is never refused", capConc, capConc),
		provider: sluicetest.Options{
			Limit:     sluicetest.FixedWindow(5000, time.Hour),
			Dialect:   sluicetest.DialectGitHub,
			Secondary: &sluicetest.SecondaryLimit{MaxConcurrent: maxConc, Penalty: time.Second, Hint: sluicetest.HintRetryAfter},
			Faults:    sluicetest.Faults{Latency: latency},
		},
		throttle: statusThrottle(http.StatusTooManyRequests, http.StatusForbidden),
		least:    time.Duration((n+maxConc-1)/maxConc) * latency,
		job:      job{requests: n, concurrency: o.concurrency, method: http.MethodGet},
		limits:   []sluice.LimitConfig{{Rate: "5000/h", Strict: true}},
		tune:     func(r *sluice.Route) { r.Concurrency = capConc },
		no429:    true, learnNo429: true,
	}
}

// llmTokens is an OpenAI-style API limited by tokens per second as well as
// requests: each call's cost varies, and only a weighted limit paces it.
func llmTokens(o demoOptions) scenario {
	const reqRate, reqBurst, tokRate, tokBurst = 40, 40, 20000, 20000
	n := min(o.requests, 150)
	cost := func(i int) int64 { return int64(200 + (i*7919)%1200) } // 200..1399 tokens, a fixed sequence
	var tokens float64
	for i := range n {
		tokens += float64(cost(i))
	}
	return scenario{
		name: "llm-tokens",
		title: fmt.Sprintf("OpenAI-style limits: %d requests/s and %d tokens/s (bursts %d and %d); %d completions of 200-1400 tokens from %d goroutines",
			reqRate, tokRate, reqBurst, tokBurst, n, o.concurrency),
		look: "the token limit binds, not the request limit: sluice paces by each call's tokens (WithCost) and draws no 429",
		provider: sluicetest.Options{
			Limit:      sluicetest.TokenBucket(reqRate, reqBurst),
			TokenLimit: sluicetest.TokenBucket(tokRate, tokBurst),
			Dialect:    sluicetest.DialectOpenAI,
		},
		throttle:  statusThrottle(http.StatusTooManyRequests),
		limitRate: 0,
		least:     max(bucketLeast(float64(n), reqBurst, reqRate), bucketLeast(tokens, tokBurst, tokRate)),
		job:       job{requests: n, concurrency: o.concurrency, method: http.MethodPost, cost: cost},
		limits: []sluice.LimitConfig{
			{Rate: fmt.Sprintf("%d/s", reqRate), Burst: reqBurst},
			{Rate: fmt.Sprintf("%d/s", tokRate), Burst: tokBurst, Weighted: true},
		},
		no429: true, learnNo429: true,
	}
}

// flaky is an API that fails: 10% 503s, 5% connections reset, 3% responses
// lost after the work was done. The job is POSTs, each with its own
// Idempotency-Key, as payment and order APIs require.
func flaky(o demoOptions) scenario {
	n := min(o.requests, 300)
	return scenario{
		name:  "flaky",
		title: fmt.Sprintf("a flaky Stripe-style API (10%% 503, 5%% connection resets, 3%% lost responses), 100/s burst 20; %d POSTs with Idempotency-Keys from %d goroutines", n, o.concurrency),
		look:  "the plain client loses every request that failed or was throttled; sluice retries each one safely (same Idempotency-Key, replayed by the API, never performed twice) and loses none",
		provider: sluicetest.Options{
			Limit:   sluicetest.TokenBucket(100, 20),
			Dialect: sluicetest.DialectStripe, // performs a keyed POST once, replays it after
			Faults:  sluicetest.Faults{ErrorRatio: 0.10, ResetRatio: 0.05, LostRatio: 0.03, Seed: 7},
		},
		throttle:  statusThrottle(http.StatusTooManyRequests),
		limitRate: 100,
		least:     bucketLeast(float64(n), 20, 100),
		job:       job{requests: n, concurrency: o.concurrency, method: http.MethodPost},
		limits:    []sluice.LimitConfig{{Rate: "100/s", Burst: 20}},
		// Stripe sends no quota headers: learning the rate takes a few 429s.
		no429: true,
	}
}

// describe is the scenario's heading.
func (s scenario) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s: %s\n", s.name, s.title)
	fmt.Fprintf(&b, "look for: %s\n", s.look)
	return b.String()
}
