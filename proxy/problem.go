package proxy

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Extensions.
	Reason     string  `json:"reason"`
	Route      string  `json:"route,omitempty"`
	Consumer   string  `json:"consumer,omitempty"`
	Share      float64 `json:"share,omitempty"`
	RetryAfter float64 `json:"retry_after_seconds,omitempty"`
}

// problemType is the base of the problem type URIs; the reason follows.
const problemType = "https://github.com/sluicehq/sluice/blob/main/docs/proxy.md#"

// writeProblem answers with a problem+json body. reason is a short token
// ("rate_limited", "destination_refused") also used in the access log.
func writeProblem(w http.ResponseWriter, status int, reason, detail string) {
	writeProblemBody(w, problem{Status: status, Reason: reason, Detail: detail})
}

func writeProblemBody(w http.ResponseWriter, p problem) {
	p.Type = problemType + p.Reason
	p.Title = http.StatusText(p.Status)
	body, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// rateLimitHeaders sets Retry-After and the IETF RateLimit fields for a
// request refused because it would have waited wait for its turn.
func rateLimitHeaders(h http.Header, policy string, quota int64, window time.Duration, wait time.Duration) {
	secs := int64(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	if quota > 0 && window > 0 {
		h.Set("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", policy, quota, int64(math.Ceil(window.Seconds()))))
	}
	h.Set("RateLimit", fmt.Sprintf("%q;r=0;t=%d", policy, secs))
}
