package limit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

var unitNames = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond,
	"ms": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseRate parses a rate written as "N/unit" or "N/Munit": "100/min",
// "5000/h", "10/s", "10/2s", "1000/day", "5/minute", and "inf" for no limit.
// A burst other than N may follow as ",burst=B" ("10/s,burst=20"), the form
// Rate.String prints. The result is validated.
func ParseRate(s string) (Rate, error) {
	in := strings.TrimSpace(s)
	if strings.EqualFold(in, "inf") {
		return Inf, nil
	}
	bad := func(why string) (Rate, error) {
		return Rate{}, fmt.Errorf("limit: %q is not a rate (want N/unit, e.g. 100/min): %s", s, why)
	}
	body, burstPart, hasBurst := strings.Cut(in, ",")
	num, per, ok := strings.Cut(body, "/")
	if !ok {
		return bad("no '/'")
	}
	count, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || count <= 0 {
		return bad("count must be a positive integer")
	}
	period, err := parsePeriod(strings.TrimSpace(per))
	if err != nil {
		return bad(err.Error())
	}
	r := Rate{Count: count, Period: period}
	if hasBurst {
		k, v, ok := strings.Cut(strings.TrimSpace(burstPart), "=")
		if !ok || strings.TrimSpace(k) != "burst" {
			return bad("want ',burst=N' after the rate")
		}
		b, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || b <= 0 {
			return bad("burst must be a positive integer")
		}
		r.Burst = b
	}
	if err := r.Validate(); err != nil {
		return Rate{}, fmt.Errorf("limit: rate %q: %w", s, err)
	}
	return r, nil
}

// parsePeriod accepts a unit name with an optional positive integer
// multiplier ("min", "2s", "15 minutes") or a Go duration ("1m30s").
func parsePeriod(p string) (time.Duration, error) {
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	unit, ok := unitNames[strings.ToLower(strings.TrimSpace(p[i:]))]
	if !ok {
		if d, err := time.ParseDuration(p); err == nil && d > 0 {
			return d, nil
		}
		return 0, fmt.Errorf("unknown unit %q", p[i:])
	}
	mult := int64(1)
	if i > 0 {
		m, err := strconv.ParseInt(p[:i], 10, 64)
		if err != nil || m <= 0 {
			return 0, fmt.Errorf("bad multiplier %q", p[:i])
		}
		mult = m
	}
	if mult > int64(maxSpan)/int64(unit) {
		return 0, fmt.Errorf("period %q is too long", p)
	}
	return time.Duration(mult) * unit, nil
}
