package quota

import (
	"net/http"
	"strings"
)

// parseRetryAfter reads the server's requested wait, in the order Azure's
// SDK uses: retry-after-ms, x-ms-retry-after-ms, then Retry-After. Retry-After
// is delay-seconds (fractions accepted, as Shopify sends "2.0") or an
// HTTP-date in any of the three formats of RFC 9110, converted through the
// response's Date. Negative, malformed and empty values are ignored; large
// ones are clamped to MaxWait.
func parseRetryAfter(h http.Header, c clock) (wait float64, ok bool) {
	for _, name := range [...]string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v, ok := headerNum(h, name); ok && v >= 0 {
			return v / msPerSec, true
		}
	}
	vals := h.Values("Retry-After")
	if len(vals) == 0 {
		return 0, false
	}
	s := strings.TrimSpace(vals[0])
	if v, ok := parseNum(s); ok {
		if v < 0 {
			return 0, false
		}
		return v, true
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return 0, false
	}
	return c.at(t).Sub(c.now).Seconds(), true
}
