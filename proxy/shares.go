package proxy

import (
	"fmt"
	"math"
	"net/http"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/limit"
)

// capped answers a request that its consumer's share of the route
// (Consumer.Share) could not serve within its wait: 429 consumer_share,
// with Retry-After and RateLimit fields for the consumer's part of the
// route's first limit (policy "<route>/<consumer>"), so the client learns
// its own limit.
func (h *Handler) capped(w http.ResponseWriter, e *entry, rl *sluice.RateLimitError, ce *limit.CapError) {
	li := h.limits[rl.Route]
	quota := int64(math.Floor(float64(li.quota) * ce.Cap))
	rateLimitHeaders(w.Header(), rl.Route+"/"+ce.Consumer, max(quota, 1), li.window, rl.Wait)
	e.status, e.reason = http.StatusTooManyRequests, "consumer_share"
	h.stats.refused(e.reason)
	writeProblemBody(w, problem{Status: http.StatusTooManyRequests, Reason: e.reason, Route: rl.Route,
		Consumer: ce.Consumer, Share: ce.Cap, RetryAfter: rl.Wait.Seconds(),
		Detail: fmt.Sprintf("consumer %s is capped at %g of route %s (proxy.consumers[].share) and its turn would come after this request's wait (Sluice-Max-Wait, capped by proxy.max_wait)",
			ce.Consumer, ce.Cap, rl.Route)})
}
