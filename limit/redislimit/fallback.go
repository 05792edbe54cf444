package redislimit

import (
	"github.com/sluicehq/sluice/limit"
)

// newFallback builds the FailLocal limiter: the rates divided among the
// expected workers. A bucket becomes a limit.Bucket; windows become
// limit.Windows, combined all-or-nothing by limit.NewMulti when there are
// several.
// The parts are the windows one by one, for SetRate.
func newFallback(k kind, rates []limit.Rate, workers int) (all limit.Limiter, parts []limit.Limiter, err error) {
	if k == kindBucket {
		b, err := limit.NewBucket(divide(rates[0], workers))
		if err != nil {
			return nil, nil, err
		}
		return b, []limit.Limiter{b}, nil
	}
	ws := make([]limit.Limiter, 0, len(rates))
	for _, r := range rates {
		w, err := limit.NewWindow(divideWindow(r, workers))
		if err != nil {
			return nil, nil, err
		}
		ws = append(ws, w)
	}
	if len(ws) == 1 {
		return ws[0], ws, nil
	}
	m, err := limit.NewMulti(ws...)
	if err != nil {
		return nil, nil, err
	}
	return m, ws, nil
}
