package redislimit

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// handover keeps the local fallback from adding to what Redis grants when
// the failure policy engages and when Redis answers again (FailLocal, with
// the fallback the limiter built):
//
//   - on engage, the fallback is drained: it grants at this process's share
//     of the rate from that instant, with no burst on top of what Redis
//     granted just before;
//   - while engaged, the fallback's grants (those booked ahead included)
//     are recorded, for a horizon of one burst time (bucket) or the longest
//     window;
//   - when Redis answers again, the recorded grants still within the horizon
//     are charged to Redis in one extra script call, as if just taken, so
//     the shared state holds what the processes spent locally.
//
// The package documentation states the bound this gives.
type handover struct {
	mu      sync.Mutex
	grants  []localGrant // guarded by mu; in the order granted
	horizon time.Duration
}

// localGrant is units the fallback granted, usable from at.
type localGrant struct {
	at time.Time
	n  int64
}

// maxGrants bounds the record; older grants are merged into the oldest.
const maxGrants = 4096

// record notes a fallback grant and drops those past the horizon.
func (h *handover) record(now, at time.Time, n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pruneLocked(now)
	if len(h.grants) == maxGrants {
		h.grants[1].n += h.grants[0].n
		h.grants = h.grants[1:]
	}
	h.grants = append(h.grants, localGrant{at, n})
}

func (h *handover) pruneLocked(now time.Time) {
	cut := now.Add(-h.horizon)
	i := 0
	for i < len(h.grants) && h.grants[i].at.Before(cut) {
		i++
	}
	h.grants = h.grants[i:]
}

// debt returns the units granted locally within the horizon (or later) and
// forgets them.
func (h *handover) debt(now time.Time) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pruneLocked(now)
	var d int64
	for _, g := range h.grants {
		d += g.n
	}
	h.grants = h.grants[:0]
	return d
}

// ahead returns the units of the grants Redis made to this process that
// are not usable yet (Reserve and Wait book ahead), and forgets the rest.
func (h *handover) ahead(now time.Time) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var k int64
	kept := h.grants[:0]
	for _, g := range h.grants {
		if g.at.After(now) {
			k += g.n
			kept = append(kept, g)
		}
	}
	h.grants = kept
	return k
}

// drain empties the fallback the limiter built: every part reserves its
// whole capacity from now, plus the units Redis booked ahead for this
// process, so local grants start after the process's share in Redis is
// spent, at its share of the rate. The reservations are not grants and are
// not recorded.
func (l *Limiter) drainFallback() {
	k := l.booked.ahead(l.now())
	for _, p := range l.fallbackParts {
		var n int64
		switch f := p.(type) {
		case *limit.Bucket:
			n = f.Rate().BurstOrCount()
		case *limit.Window:
			n = f.Rate().Count
		}
		for rest := n + k; n > 0 && rest > 0; rest -= n {
			_, _ = p.Reserve(context.Background(), min(rest, n))
		}
	}
}

// recordBooked notes a grant Redis made for a later instant.
func (l *Limiter) recordBooked(at time.Time, n int64) {
	if l.fallbackParts != nil && at.After(l.now()) {
		l.booked.record(l.now(), at, n)
	}
}

// recordFallback notes a grant the fallback made for the handover.
func (l *Limiter) recordFallback(at time.Time, n int64) {
	if l.fallbackParts != nil {
		l.handover.record(l.now(), at, n)
	}
}

// repay charges Redis with what the fallback granted within the horizon,
// once Redis answers again. At most one decision's worth of units is
// charged per call (the smallest capacity); a failed charge is dropped, as
// Redis is then down again and the fallback drained anew.
func (l *Limiter) repay(ctx context.Context) {
	if l.fallbackParts == nil {
		return
	}
	d := l.handover.debt(l.now())
	if d <= 0 {
		return
	}
	cfg := l.cfg.Load()
	d = min(d, cfg.maxCost)
	ctx = context.WithoutCancel(ctx)
	var args []any
	s := gcraScript
	switch l.kind {
	case kindBucket:
		if cfg.interval == 0 {
			return
		}
		args = []any{cfg.args[0], cfg.args[1], d, d, foreverMicros, l.maxPause}
	case kindWindow:
		s = windowScript
		args = append([]any{d, foreverMicros, l.maxPause}, cfg.args...)
	}
	if _, err := l.call(ctx, s, l.keys, args...); err == nil {
		l.stats.repaid.Add(d)
		l.denied.Store(nil)
	}
}

// horizonOf is how long a fallback grant matters to the shared state: the
// time a full burst takes to come back (bucket) or the longest window.
func horizonOf(k kind, rates []limit.Rate) time.Duration {
	var h time.Duration
	for _, r := range rates {
		if r.IsInf() {
			continue
		}
		if k == kindBucket {
			h = max(h, time.Duration(r.BurstOrCount())*r.Interval())
		} else {
			h = max(h, r.Period)
		}
	}
	return h
}
