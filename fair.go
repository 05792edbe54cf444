package sluice

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/limit"
	"github.com/sluicehq/sluice/limit/redislimit"
)

// fair wraps lim, the limiter of the group of limits ls of route, in a
// limit.Fair whose consumers' shares come from Config.Shares. When the
// group has a Shared limit, a capped consumer's cap is a set of Redis
// buckets (one per limit, named after the route, the limit and the
// consumer), so it holds across processes; otherwise caps are local.
func (lb *limitBuilder) fair(route string, ls []indexed, lim limit.Limiter, maxPause time.Duration) (limit.Limiter, error) {
	rates := make([]limit.Rate, 0, len(ls))
	shared := false
	for _, l := range ls {
		r, err := rateOf(l.LimitConfig)
		if err != nil {
			return nil, fmt.Errorf("limits[%d]: %w", l.i, err)
		}
		if l.Strict {
			r.Burst = 0 // a window's capacity is its count
		} else {
			r = withMargin(r)
		}
		rates = append(rates, r)
		shared = shared || l.Shared
	}
	shares := lb.shares
	o := limit.FairOptions{Rates: rates, Share: func(c string) limit.Share { return shares(route, c) }}
	if shared && lb.redis != nil {
		o.NewCap = func(consumer string, rs []limit.Rate) (limit.Limiter, error) {
			parts := make([]limit.Limiter, 0, len(rs))
			for j, r := range rs {
				name := fmt.Sprintf("route/%s/%d/cap/%s", route, ls[j].i, capKey.Replace(consumer))
				opts := lb.opts
				opts.MaxPause = maxPause
				rl, err := redislimit.NewBucket(lb.redis, name, r, opts)
				if err != nil {
					return nil, err
				}
				lb.mu.Lock()
				lb.closed = append(lb.closed, rl)
				lb.mu.Unlock()
				parts = append(parts, rl)
			}
			if len(parts) == 1 {
				return parts[0], nil
			}
			return limit.NewMulti(parts...)
		}
	}
	f, err := limit.NewFair(lim, o)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// capKey keeps a consumer's name out of Redis hash-tag syntax.
var capKey = strings.NewReplacer("{", "%7B", "}", "%7D", "%", "%25")
