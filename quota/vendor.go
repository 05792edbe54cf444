package quota

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// counter builds an Observation from a limit and a remaining count,
// reading sentinels as Unknown: a negative value, and a limit of 0 (Azure
// OpenAI sends -1 and 0 for "not reported"; a 0 limit with 0 remaining says
// nothing either).
func counter(bucket string, unit Unit, lim, rem float64, limOK, remOK bool) Observation {
	o := Observation{Bucket: bucket, Unit: unit, Limit: quotaCount(lim, limOK), Remaining: quotaCount(rem, remOK)}
	if o.Limit == 0 {
		o.Limit = Unknown
		if o.Remaining == 0 {
			o.Remaining = Unknown
		}
	}
	o.Remaining = capRemaining(o.Remaining, o.Limit)
	return o
}

// capRemaining caps a remaining count at a known limit.
func capRemaining(rem, lim float64) float64 {
	if lim >= 0 && rem > lim {
		return lim
	}
	return rem
}

// known reports whether an Observation carries anything.
func (o Observation) known() bool {
	return o.Limit >= 0 || o.Remaining >= 0 || !o.Reset.IsZero()
}

// bucketName bounds and cleans a provider-supplied bucket id.
func bucketName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

// parseGitHub reads x-ratelimit-limit/-remaining/-used/-reset (epoch
// seconds)/-resource.
func parseGitHub(h http.Header, c clock) []Observation {
	lim, limOK := headerNum(h, "X-Ratelimit-Limit")
	rem, remOK := headerNum(h, "X-Ratelimit-Remaining")
	if used, ok := headerNum(h, "X-Ratelimit-Used"); ok && !remOK && limOK {
		rem, remOK = lim-used, true
	}
	if !limOK && !remOK {
		return nil
	}
	res := bucketName(h.Get("X-Ratelimit-Resource"))
	if res == "" {
		res = "core"
	}
	name := "github:core" // the common case, without building the string
	if res != "core" {
		name = "github:" + res
	}
	o := counter(name, Requests, lim, rem, limOK, remOK)
	if v, ok := headerNum(h, "X-Ratelimit-Reset"); ok {
		o.Reset = c.reset(v, true)
	}
	return []Observation{o}
}

// parseOpenAI reads x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// (and the _usage_based tokens variant). Reset is a Go duration until the
// bucket is full again.
func parseOpenAI(h http.Header, c clock) []Observation {
	obs := make([]Observation, 0, 2) // requests and tokens: one allocation
	for _, k := range openAIKinds {
		lim, limOK := headerNum(h, k.limit)
		rem, remOK := headerNum(h, k.remaining)
		if !limOK && !remOK {
			continue
		}
		o := counter(k.bucket, k.unit, lim, rem, limOK, remOK)
		o.Continuous = true
		if d, ok := parseGoDuration(h.Get(k.reset)); ok {
			o.Reset = c.after(d)
		}
		if o.known() {
			obs = append(obs, o)
		}
	}
	if len(obs) == 0 {
		return nil
	}
	return obs
}

// family names the three headers of one bucket, in canonical form (so that
// lookups do not allocate) and the bucket they describe.
type family struct {
	bucket, limit, remaining, reset string
	unit                            Unit
}

// openAIKinds are OpenAI's buckets: requests, tokens and the usage-based
// tokens variant.
var openAIKinds = [...]family{
	{"openai:requests", "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests", Requests},
	{"openai:tokens", "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens", Tokens},
	{"openai:tokens_usage_based", "X-Ratelimit-Limit-Tokens_usage_based", "X-Ratelimit-Remaining-Tokens_usage_based",
		"X-Ratelimit-Reset-Tokens_usage_based", Tokens},
}

// anthropicKinds are Anthropic's four bucket families.
var anthropicKinds = [...]family{
	{"anthropic:requests", "Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Requests-Remaining", "Anthropic-Ratelimit-Requests-Reset", Requests},
	{"anthropic:tokens", "Anthropic-Ratelimit-Tokens-Limit", "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset", Tokens},
	{"anthropic:input-tokens", "Anthropic-Ratelimit-Input-Tokens-Limit", "Anthropic-Ratelimit-Input-Tokens-Remaining",
		"Anthropic-Ratelimit-Input-Tokens-Reset", InputTokens},
	{"anthropic:output-tokens", "Anthropic-Ratelimit-Output-Tokens-Limit", "Anthropic-Ratelimit-Output-Tokens-Remaining",
		"Anthropic-Ratelimit-Output-Tokens-Reset", OutputTokens},
}

// parseAnthropic reads anthropic-ratelimit-{family}-{limit,remaining,reset}
// for the four families; reset is an RFC 3339 timestamp (or epoch seconds).
func parseAnthropic(h http.Header, c clock) []Observation {
	var obs []Observation
	for _, k := range anthropicKinds {
		lim, limOK := headerNum(h, k.limit)
		rem, remOK := headerNum(h, k.remaining)
		if !limOK && !remOK {
			continue
		}
		o := counter(k.bucket, k.unit, lim, rem, limOK, remOK)
		o.Continuous = true
		o.Reset = readReset(h.Get(k.reset), c, true)
		if o.known() {
			obs = append(obs, o)
		}
	}
	return obs
}

// readReset reads a reset that is a timestamp or a number (epoch seconds
// when epoch, delta seconds otherwise, guessed by size as a last resort).
func readReset(s string, c clock, epoch bool) time.Time {
	if t, ok := parseTimestamp(s); ok {
		return c.at(t)
	}
	if v, ok := firstNum(s); ok {
		return c.reset(v, epoch)
	}
	return time.Time{}
}

// parseX reads X's x-rate-limit-* (epoch reset) and the 24-hour caps
// x-app-limit-24hour-* and x-user-limit-24hour-*.
func parseX(h http.Header, c clock) []Observation {
	var obs []Observation
	for _, f := range [...]struct {
		prefix, bucket string
		window         time.Duration
	}{{"X-Rate-Limit-", "x", 0}, {"X-App-Limit-24hour-", "x:app-24hour", 24 * time.Hour},
		{"X-User-Limit-24hour-", "x:user-24hour", 24 * time.Hour}} {
		lim, limOK := headerNum(h, f.prefix+"Limit")
		rem, remOK := headerNum(h, f.prefix+"Remaining")
		if !limOK && !remOK {
			continue
		}
		o := counter(f.bucket, Requests, lim, rem, limOK, remOK)
		o.Window = f.window
		if v, ok := headerNum(h, f.prefix+"Reset"); ok {
			o.Reset = c.reset(v, true)
		}
		obs = append(obs, o)
	}
	return obs
}

// redditWindow is the length of Reddit's rate-limit window.
const redditWindow = 10 * time.Minute

// parseReddit reads X-Ratelimit-Used, -Remaining (a float, "99.0") and
// -Reset (seconds until the window ends).
func parseReddit(h http.Header, c clock) []Observation {
	used, usedOK := headerNum(h, "X-Ratelimit-Used")
	rem, remOK := headerNum(h, "X-Ratelimit-Remaining")
	if !usedOK && !remOK {
		return nil
	}
	lim, limOK := used+rem, usedOK && remOK && used >= 0 && rem >= 0
	o := counter("reddit", Requests, lim, rem, limOK, remOK)
	o.Window = redditWindow
	if v, ok := headerNum(h, "X-Ratelimit-Reset"); ok {
		o.Reset = c.reset(v, false)
	}
	return []Observation{o}
}

// parseDiscord reads X-RateLimit-Limit, -Remaining, -Reset-After (float
// seconds, preferred: it needs no clock), -Reset (fractional epoch) and
// -Bucket. The bucket is the hash plus the request's top-level resource
// (channel, guild or webhook id), as Discord counts them.
func parseDiscord(h http.Header, path string, c clock) []Observation {
	lim, limOK := headerNum(h, "X-Ratelimit-Limit")
	rem, remOK := headerNum(h, "X-Ratelimit-Remaining")
	if !limOK && !remOK {
		return nil
	}
	name := "discord"
	if b := bucketName(h.Get("X-Ratelimit-Bucket")); b != "" {
		name += ":" + b
	}
	if m := majorResource(path); m != "" {
		name += ":" + m
	}
	o := counter(name, Requests, lim, rem, limOK, remOK)
	if v, ok := headerNum(h, "X-Ratelimit-Reset-After"); ok && v >= 0 {
		o.Reset = c.after(secs(v))
	} else if v, ok := headerNum(h, "X-Ratelimit-Reset"); ok {
		o.Reset = c.reset(v, true)
	}
	return []Observation{o}
}

// majorResource returns Discord's top-level resource in a request path:
// "channels/<id>", "guilds/<id>" or "webhooks/<id>".
func majorResource(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := 0; i+1 < len(parts) && i < 8; i++ {
		if slices.Contains([]string{"channels", "guilds", "webhooks"}, parts[i]) {
			return bucketName(parts[i] + "/" + parts[i+1])
		}
	}
	return ""
}

// parseShopify reads X-Shopify-Shop-Api-Call-Limit: used/capacity of a
// leaky bucket.
func parseShopify(h http.Header) []Observation {
	v := strings.TrimSpace(h.Get("X-Shopify-Shop-Api-Call-Limit"))
	usedS, capS, ok := strings.Cut(v, "/")
	if !ok {
		return nil
	}
	used, uok := parseNum(usedS)
	capacity, cok := parseNum(capS)
	if !uok || !cok || used < 0 {
		return nil
	}
	o := counter("shopify", Requests, capacity, capacity-used, cok, uok && used <= capacity)
	if o.Remaining < 0 && used > capacity && o.Limit > 0 {
		o.Remaining = 0
	}
	o.Continuous = true
	return []Observation{o}
}

// azurePrefix starts every Azure Resource Manager quota header.
const azurePrefix = "X-Ms-Ratelimit-Remaining-"

// parseAzure reads x-ms-ratelimit-remaining-{subscription,tenant,global}-*
// (remaining only; Azure sends no limit or reset) and the provider form of
// x-ms-ratelimit-remaining-resource: "Microsoft.Compute/GetVMScaleSet3Min;197,...".
func parseAzure(h http.Header) []Observation {
	var keys []string
	for k := range h {
		if len(k) > len(azurePrefix) && strings.EqualFold(k[:len(azurePrefix)], azurePrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var obs []Observation
	for _, k := range keys {
		suffix := strings.ToLower(k[len(azurePrefix):])
		if suffix != "resource" {
			if v, ok := headerNum(h, k); ok {
				obs = append(obs, counter("azure:"+bucketName(suffix), Requests, 0, v, false, true))
			}
			continue
		}
		for _, part := range strings.Split(joined(h, k), ",") {
			name, num, ok := strings.Cut(strings.TrimSpace(part), ";")
			v, vok := parseNum(num)
			if !ok || !vok || name == "" || len(obs) >= sfMaxMembers {
				continue
			}
			o := counter("azure:"+bucketName(name), Requests, 0, v, false, true)
			o.Window = azureWindow(name)
			obs = append(obs, o)
		}
	}
	return obs
}

// azureWindow reads the window from a policy name ending in "3Min", "30Min"
// or "1Hour".
func azureWindow(name string) time.Duration {
	for _, u := range [...]struct {
		suffix string
		d      time.Duration
	}{{"Min", time.Minute}, {"Hour", time.Hour}, {"Sec", time.Second}} {
		rest, ok := strings.CutSuffix(name, u.suffix)
		if !ok {
			continue
		}
		i := len(rest)
		for i > 0 && isDigit(rest[i-1]) && len(rest)-i < 4 {
			i--
		}
		if v, ok := parseNum(rest[i:]); ok && v > 0 {
			return time.Duration(v) * u.d
		}
	}
	return 0
}

// parseGeneric reads X-RateLimit-Limit/-Remaining/-Reset as servers such
// as express-rate-limit, Envoy, Zendesk and Atlassian send them. The
// reset's form is guessed: a timestamp, epoch milliseconds or seconds when
// large enough, else delta seconds.
func parseGeneric(h http.Header, c clock) []Observation {
	lim, limOK := headerNum(h, "X-Ratelimit-Limit")
	rem, remOK := headerNum(h, "X-Ratelimit-Remaining")
	if !limOK && !remOK {
		return nil
	}
	o := counter("generic", Requests, lim, rem, limOK, remOK)
	o.Reset = readReset(h.Get("X-Ratelimit-Reset"), c, false)
	return []Observation{o}
}
