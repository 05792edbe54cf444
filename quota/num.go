package quota

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Caps applied to everything a response says. Values beyond them are clamped,
// never trusted as they are.
const (
	// MaxWait is the longest wait or reset horizon Parse reports: 24 hours.
	// A longer Retry-After or reset is clamped to it (a per-day quota is
	// still reported as a wait of a day, not ignored).
	MaxWait = 24 * time.Hour

	// MaxQuota is the largest limit or remaining count Parse reports.
	MaxQuota = 1e15

	// Unknown is the value of Observation.Limit and Observation.Remaining
	// when the response did not say.
	Unknown = -1.0
)

const (
	maxNumLen   = 40      // longer numbers are garbage
	epochSpan   = 1e8     // seconds (about 3 years): an epoch "reset" is this close to now
	epochSecMin = 1e8     // detection: a RateLimit-Reset this large is epoch seconds (GitLab)
	maxSeconds  = 3.2e10  // largest delta in seconds we compute with (no overflow)
	nsPerSec    = 1e9     // float nanoseconds per second
	msPerSec    = 1000.0  // milliseconds per second
	usPerSec    = 1e6     // microseconds per second
	secPerDay   = 86400.0 // seconds per day
	secPerHour  = 3600.0  // seconds per hour
	secPerMin   = 60.0    // seconds per minute
	intMaxLen   = 20      // digits of integer part we accept
)

// parseNum parses a plain decimal number: optional sign, digits, optional
// fraction ("64.57", "99.0", "-1", "+3", ".5"). It rejects exponents, hex,
// "Inf", "NaN" and underscores, which strconv.ParseFloat alone would accept,
// and integer parts longer than 20 digits.
func parseNum(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxNumLen {
		return 0, false
	}
	i := 0
	if s[0] == '-' || s[0] == '+' {
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	digits := i - intStart
	if digits > intMaxLen {
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		digits += i - fracStart
	}
	if digits == 0 || i != len(s) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// firstNum parses the first element of a header value that may carry a list
// ("100, 100;w=60") or several lines: the text before the first ',' or ';'.
func firstNum(s string) (float64, bool) {
	if i := strings.IndexAny(s, ",;"); i >= 0 {
		s = s[:i]
	}
	return parseNum(s)
}

// headerNum reads a numeric header, first element of the first line.
func headerNum(h http.Header, name string) (float64, bool) {
	v := h.Values(name)
	if len(v) == 0 {
		return 0, false
	}
	return firstNum(v[0])
}

// quotaCount clamps a count to [0, MaxQuota]; a negative count (the -1
// sentinel) is Unknown.
func quotaCount(v float64, ok bool) float64 {
	switch {
	case !ok || math.IsNaN(v) || v < 0:
		return Unknown
	case v > MaxQuota:
		return MaxQuota
	}
	return v
}

// secs converts seconds to a Duration clamped to [0, MaxWait].
func secs(v float64) time.Duration {
	switch {
	case math.IsNaN(v) || v <= 0:
		return 0
	case v >= MaxWait.Seconds():
		return MaxWait
	}
	return time.Duration(math.Round(v * nsPerSec))
}

// clampWait clamps a Duration to [0, MaxWait].
func clampWait(d time.Duration) time.Duration {
	return max(0, min(d, MaxWait))
}

// parseGoDuration parses the durations OpenAI sends ("1s", "6m0s", "12ms",
// "1m30.5s", "7.66s", "2h", "1d2h") without the overflow, sign and unit
// surprises of time.ParseDuration. A bare number is seconds.
func parseGoDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return 0, false
	}
	if v, ok := parseNum(s); ok {
		if v < 0 {
			return 0, false
		}
		return secs(v), true
	}
	var total float64 // seconds
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		v, ok := parseNum(s[:i])
		if !ok {
			return 0, false
		}
		s = s[i:]
		j := 0
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		var unit float64
		switch s[:j] {
		case "d":
			unit = secPerDay
		case "h":
			unit = secPerHour
		case "m":
			unit = secPerMin
		case "s":
			unit = 1
		case "ms":
			unit = 1 / msPerSec
		case "us", "µs", "μs":
			unit = 1 / usPerSec
		case "ns":
			unit = 1 / nsPerSec
		default:
			return 0, false
		}
		s = s[j:]
		total += v * unit
		if total > maxSeconds {
			total = maxSeconds
		}
	}
	return secs(total), true
}

// parseTimestamp parses the absolute times providers send: RFC 3339
// (Anthropic), ISO 8601 to the minute (Atlassian "2026-03-26T16:00Z"), and the
// three HTTP-date formats.
func parseTimestamp(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return time.Time{}, false
	}
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, !t.IsZero() // the zero time is a placeholder, not year 1
		}
	}
	if t, err := http.ParseTime(s); err == nil {
		return t, !t.IsZero()
	}
	return time.Time{}, false
}

// epochTime converts epoch seconds (fractional allowed) to a time.
func epochTime(v float64) time.Time {
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*nsPerSec))
}
