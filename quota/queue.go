package quota

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// Requests that must wait for a host's quota queue in the host's state, by
// priority (limit.PriorityFrom of the request's context) and then in order
// of arrival (Cost.Since: a retry keeps its first attempt's place), and
// are granted in that order by whoever changes what the quota allows: a
// timer armed for the first waiter's time, a response (done), a new
// arrival or a waiter leaving. Each waiter once slept on its
// own timer and took the quota if it was there when it woke: every waiter
// due at the same instant raced for one unit, and the losers slept again
// with no memory of their place, so a few requests of a 600-request job
// waited through many rounds (p99 6.6-7.3 s where a FIFO limiter had 1.3
// s).
//
// A waiter held by a bucket (or the adaptive limiter, a host pause, the
// first contact) holds back the waiters behind it that the same thing
// would hold, even if their cost would fit: a request of 1,000 tokens is
// not starved by requests of 10. Waiters the holder does not concern (a
// route the bucket does not apply to, a paced request and the adaptive
// limiter) go past it.

// waiter is a request waiting in Acquire. Its fields are guarded by
// Tracker.mu; ready is closed once tk or err is set.
type waiter struct {
	h        *hostState
	cost     Cost
	prio     limit.Priority
	since    time.Time // Cost.Since, or the arrival
	hold     bool      // waits for the first contact's answer
	deadline time.Time // the context's deadline; zero: none
	ready    chan struct{}
	tk       *ticket
	err      error
}

// enqueue adds w behind the waiters of higher priority and those of its
// priority that asked before it. Requires Tracker.mu held.
func (h *hostState) enqueue(w *waiter) {
	i := len(h.queue)
	for i > 0 && (h.queue[i-1].prio < w.prio || h.queue[i-1].prio == w.prio && h.queue[i-1].since.After(w.since)) {
		i--
	}
	h.queue = append(h.queue, nil)
	copy(h.queue[i+1:], h.queue[i:])
	h.queue[i] = w
}

// leave removes w from the queue if it is still there. Requires
// Tracker.mu held.
func (h *hostState) leave(w *waiter) {
	for i, o := range h.queue {
		if o == w {
			copy(h.queue[i:], h.queue[i+1:])
			h.queue[len(h.queue)-1] = nil
			h.queue = h.queue[:len(h.queue)-1]
			return
		}
	}
}

// costNow completes cost for the host's current dialect (whether its
// revalidation is free). Requires Tracker.mu held.
func (h *hostState) costNow(cost Cost) Cost {
	d := cost.Dialect
	if d == "" || d == DialectAuto {
		d = h.dialect
	}
	cost.free = cost.Revalidation && freeNotModified(d)
	return cost
}

// dispatch grants, in queue order, every waiter the quota lets go now and
// nothing ahead of it holds back; fails those whose wait now passes their
// deadline or MaxWait; and arms the host's timer for the earliest time a
// waiter still queued may go. The waiters it grants or fails are added to
// h.released, for the caller to release after the lock (and the events
// built under it) with releaseAll. Requires Tracker.mu held.
func (t *Tracker) dispatch(h *hostState, now time.Time) {
	var next time.Time
	var held []string // what holds the waiters kept so far
	q := h.queue[:0]
	for _, w := range h.queue {
		cost := h.costNow(w.cost)
		if h.heldBehind(held, cost, w.hold) {
			q = append(q, w)
			continue
		}
		at, who := h.earliest(now, cost, t.opts.BurstFraction, w.hold)
		if !at.After(now) {
			w.tk = h.grant(now, cost)
			w.tk.t = t
			h.released = append(h.released, w)
			continue
		}
		if err := w.tooLong(at.Sub(now), who); err != nil {
			w.err = err
			h.released = append(h.released, w)
			continue
		}
		held = append(held, who)
		if next.IsZero() || at.Before(next) {
			next = at
		}
		q = append(q, w)
	}
	clear(h.queue[len(q):])
	h.queue = q
	t.arm(h, now, next)
}

// heldBehind reports whether a waiter of the given cost is held back by a
// waiter ahead of it held by one of held. Requires Tracker.mu held.
func (h *hostState) heldBehind(held []string, cost Cost, hold bool) bool {
	for _, who := range held {
		switch who {
		case "host":
			return true
		case whoFirst:
			if hold {
				return true
			}
		case "adaptive":
			if !cost.Paced {
				return true
			}
		default:
			if b := h.buckets[who]; b != nil && b.applies(cost.Route) && b.units(cost) > 0 &&
				!(cost.free && b.unit == Requests) {
				return true
			}
		}
	}
	return false
}

// tooLong returns the *WaitError of a wait past w's deadline or MaxWait,
// or nil. The first contact's wait is never refused: it ends at the first
// answer.
func (w *waiter) tooLong(wait time.Duration, who string) error {
	if who == whoFirst {
		return nil
	}
	if !w.deadline.IsZero() && wait > time.Until(w.deadline) {
		return &WaitError{Host: w.h.name, Bucket: who, Wait: wait, Deadline: w.deadline}
	}
	if w.cost.MaxWait > 0 && wait > w.cost.MaxWait {
		return &WaitError{Host: w.h.name, Bucket: who, Wait: wait, Ceiling: w.cost.MaxWait}
	}
	return nil
}

// arm sets the host's timer to dispatch at next (zero: no waiter to wake).
// Requires Tracker.mu held.
func (t *Tracker) arm(h *hostState, now, next time.Time) {
	if next.Equal(h.timerAt) && h.timer != nil {
		return
	}
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	h.timerAt = next
	if next.IsZero() {
		return
	}
	h.timer = time.AfterFunc(next.Sub(now), func() { t.wake(h) })
}

// wake is the host timer's dispatch.
func (t *Tracker) wake(h *hostState) {
	t.mu.Lock()
	h.timer, h.timerAt = nil, time.Time{}
	t.dispatch(h, t.now())
	ev, ws := h.drainEvents(), h.drainReleased()
	t.mu.Unlock()
	t.releaseAll(ev, ws, "")
}

// drainReleased returns and clears the waiters dispatch released.
// Requires Tracker.mu held.
func (h *hostState) drainReleased() []*waiter {
	ws := h.released
	h.released = nil
	return ws
}

// releaseAll logs evs for route (a timer's: the route of the first waiter
// released) and then wakes the waiters ws, so that what a grant logged is
// logged before its Acquire returns. It is called without Tracker.mu held.
func (t *Tracker) releaseAll(evs []event, ws []*waiter, route string) {
	if route == "" && len(ws) > 0 {
		route = ws[0].cost.Route
	}
	t.emit(evs, route)
	for _, w := range ws {
		close(w.ready)
	}
}

// wait queues a request that cannot go at once (at, held by who) and waits
// for its grant, its refusal or the end of ctx. Requires Tracker.mu held;
// returns with it released.
func (t *Tracker) wait(ctx context.Context, h *hostState, w *waiter, now, at time.Time, who string) (*ticket, error) {
	if err := w.tooLong(at.Sub(now), who); err != nil {
		ev := h.drainEvents()
		t.mu.Unlock()
		t.emit(ev, w.cost.Route)
		return nil, err
	}
	h.enqueue(w)
	t.dispatch(h, now)
	ev, ws := h.drainEvents(), h.drainReleased()
	t.mu.Unlock()
	if wait := at.Sub(now); wait >= LongWait && who != whoFirst && t.log != nil && !slices.Contains(ws, w) {
		ev = append(ev, event{msg: "quota_wait", level: slog.LevelInfo, host: h.name, bucket: who,
			attrs: []any{"wait", wait.Round(time.Millisecond)}})
	}
	t.releaseAll(ev, ws, w.cost.Route)
	select {
	case <-w.ready:
		return w.tk, w.err
	case <-ctx.Done():
	}
	t.mu.Lock()
	tk := w.tk
	if tk == nil && w.err == nil {
		h.leave(w)
		t.dispatch(h, t.now()) // w may have held others back
	}
	ev, ws = h.drainEvents(), h.drainReleased()
	t.mu.Unlock()
	t.releaseAll(ev, ws, w.cost.Route)
	if tk != nil {
		tk.finish(nil, nil) // granted as ctx ended: not sent
	}
	return nil, ctx.Err()
}

// rampCrowd is how many requests must be waiting for a host's first answer
// for the first-contact ramp to release them: one or none (a caller
// sending one request at a time, or two goroutines) is no crowd, and
// ramping for it held a loop of requests to a host that never throttles to
// 10/s at first (36 µs a request in the in-memory overhead benchmark
// instead of 6).
const rampCrowd = 2

// crowd reports whether rampCrowd requests or more wait for the host's
// first answer. Requires Tracker.mu held.
func (h *hostState) crowd() bool {
	n := 0
	for _, w := range h.queue {
		if w.hold {
			n++
		}
	}
	return n >= rampCrowd
}
