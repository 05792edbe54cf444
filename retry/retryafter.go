package retry

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxServerDelay is the longest wait ParseRetryAfter returns. Larger values
// (a Retry-After of a million seconds, a date years ahead) are capped to it
// rather than trusted; the Policy's much shorter MaxRetryAfter then decides
// whether to wait at all.
const MaxServerDelay = 7 * 24 * time.Hour

// ParseRetryAfter returns the wait a response asks for before the next
// request, and whether it asks for one. It reads, in this order (the first
// well-formed one wins, as in Azure's and OpenAI's SDKs):
//
//   - retry-after-ms: milliseconds, possibly fractional;
//   - x-ms-retry-after-ms: the same;
//   - Retry-After: delay-seconds, also fractional ("2.0", as Shopify sends),
//     or an HTTP-date in any of the three formats of RFC 9110 (IMF-fixdate,
//     RFC 850, asctime).
//
// A date is turned into a wait against the response's own Date header when
// it has a valid one, so a skewed local clock does no harm; otherwise
// against now. Negative waits and dates in the past give 0 (retry now), and
// waits beyond MaxServerDelay are capped to it. ok is false, and d zero,
// when no header is present or none parses.
func ParseRetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	for _, k := range [...]string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if d, ok := parseNumber(h.Get(k), time.Millisecond); ok {
			return d, true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if d, ok := parseNumber(v, time.Second); ok {
		return d, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if date, err := http.ParseTime(strings.TrimSpace(h.Get("Date"))); err == nil {
		now = date
	}
	return clampWait(at.Sub(now)), true
}

// parseNumber parses a decimal number of units: an optional minus sign,
// digits, and an optional fraction. Exponents, signs other than a leading
// minus, and names such as "Inf" are rejected.
func parseNumber(v string, unit time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	digits := strings.TrimPrefix(v, "-")
	intPart, frac, _ := strings.Cut(digits, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil && !math.IsInf(f, 0) { // out of range: capped below
		return 0, false
	}
	limit := float64(MaxServerDelay) / float64(unit)
	switch {
	case f <= 0:
		return 0, true
	case f >= limit:
		return MaxServerDelay, true
	}
	return time.Duration(f * float64(unit)), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clampWait limits d to [0, MaxServerDelay].
func clampWait(d time.Duration) time.Duration {
	return min(max(d, 0), MaxServerDelay)
}
