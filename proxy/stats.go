package proxy

import (
	"sort"
	"sync"
	"sync/atomic"
)

// counters are the proxy's own counts, beside the pipeline's Stats.
type counters struct {
	mu      sync.Mutex
	modes   map[string]int64 // guarded by mu
	reasons map[string]int64 // guarded by mu
	open    atomic.Int64     // CONNECT tunnels open
}

func (c *counters) request(mode string)   { c.add(&c.modes, mode) }
func (c *counters) refused(reason string) { c.add(&c.reasons, reason) }

func (c *counters) add(m *map[string]int64, k string) {
	c.mu.Lock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[k]++
	c.mu.Unlock()
}

// Stats is a snapshot of the proxy's counts.
type Stats struct {
	// Requests counts requests by mode: "base", "forward", "connect".
	Requests map[string]int64
	// Refused counts requests answered by the proxy itself, by reason
	// ("unauthenticated", "destination_refused", "rate_limited", ...).
	Refused map[string]int64
	// TunnelsOpen is the number of CONNECT tunnels open now.
	TunnelsOpen int64
}

// Stats returns a snapshot of the proxy's counts; the pipeline's are in
// Transport().Stats().
func (h *Handler) Stats() Stats {
	c := &h.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Requests: map[string]int64{}, Refused: map[string]int64{}, TunnelsOpen: c.open.Load()}
	for k, v := range c.modes {
		s.Requests[k] = v
	}
	for k, v := range c.reasons {
		s.Refused[k] = v
	}
	return s
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
