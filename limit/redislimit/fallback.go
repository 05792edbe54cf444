package redislimit

import (
	"github.com/sluicehq/sluice/limit"
)

// newFallback builds the FailLocal limiter: the rates divided among the
// expected workers.
func newFallback(k kind, rates []limit.Rate, workers int) (limit.Limiter, error) {
	if k == kindBucket {
		b, err := limit.NewBucket(divide(rates[0], workers))
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, nil // TODO: limit.NewWindow has not landed yet
}
