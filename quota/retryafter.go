package quota

import (
	"net/http"
	"strings"
	"time"
)

// parseRetryAfter reads the server's requested wait, in the order Azure's
// SDK uses: retry-after-ms, x-ms-retry-after-ms, then Retry-After. Retry-After
// is delay-seconds (fractions accepted, as Shopify sends "2.0") or an
// HTTP-date in any of the three formats of RFC 9110, converted through the
// response's Date. Negative, malformed and empty values are ignored; large
// ones are clamped to MaxWait.
//
// An HTTP-date has the resolution of delay-seconds, and worse: the instant
// is rounded to the second and so is the Date it is read against, so a
// server wanting 20 ms may name an instant 1.01 s or 1.99 s ahead of the
// local clock: a date d ahead may mean as little as d - 1 s. One less than
// dateSlack ahead, which may mean under a second, is therefore read as
// "Retry-After: 1", the whole second that the Tracker and the Transport
// take as possible rounding (the pace, not the wait, holds the retry).
// Read as it came (a fraction of a second, or just over one), the retried
// request slept it out whole, and a wait over a second paused the host:
// goodput 0.83 in issue 10's bench against 0.93 for delay-seconds.
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
	d := c.at(t).Sub(c.now)
	if d > 0 && d < dateSlack {
		d = time.Second
	}
	return d.Seconds(), true
}

// dateSlack is the rounding an HTTP-date Retry-After can carry: its own
// second and the Date header's.
const dateSlack = 2 * time.Second
