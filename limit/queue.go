package limit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// taker is what a waitQueue serves: a limiter that can try to take units
// at once, ignoring its own queue, and estimate when it could.
type taker interface {
	// tryTake takes n units now if it can; otherwise it returns how long
	// (ns, > 0) until it might. err ends the wait (a foreign member of a
	// Multi that failed).
	tryTake(ctx context.Context, n int64) (ok bool, wait int64, err error)
	// estimate returns how long (ns, >= 0) from now until n units could be
	// taken, if nothing else took any.
	estimate(n int64) int64
}

// waiter is one caller blocked in Wait.
type waiter struct {
	key  int64 // enqueue time minus priority*aging: smaller is served first
	seq  uint64
	n    int64
	wake chan struct{} // buffered(1): "you may be the head now"
	idx  int           // position in the heap
}

func (a *waiter) before(b *waiter) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.seq < b.seq
}

// waitQueue orders the callers of Wait. Only the head (the waiter with the
// smallest key) tries to take units; the others sleep on their wake channel
// until the head leaves. The head sleeps on a timer until its units could be
// available, or until it is displaced or woken by a rate change.
type waitQueue struct {
	count atomic.Int32 // waiters queued; read without mu on the Allow path
	units atomic.Int64 // units they ask for in total
	aging int64        // ns of waiting one priority level is worth

	mu   sync.Mutex
	heap []*waiter // guarded by mu; min-heap by before
	seq  uint64    // guarded by mu
}

func (q *waitQueue) empty() bool { return q.count.Load() == 0 }

// wait blocks until t grants n units, ctx ends, or the grant would come after
// ctx's deadline (a *WaitError, returned as soon as that is known).
func (q *waitQueue) wait(ctx context.Context, t taker, clk *clock, n int64) error {
	now := clk.now()
	dl, hasDL := ctx.Deadline()
	deadline := int64(0)
	if hasDL {
		deadline = clk.ns(dl)
	}
	w := &waiter{key: now - int64(PriorityFrom(ctx))*q.aging, n: n, wake: make(chan struct{}, 1)}

	q.mu.Lock()
	w.seq = q.seq
	q.seq++
	if hasDL {
		ahead := n
		for _, o := range q.heap {
			if o.before(w) {
				ahead += o.n
			}
		}
		if est := t.estimate(ahead); now+est > deadline {
			q.mu.Unlock()
			return &WaitError{Wait: time.Duration(est), Deadline: dl}
		}
	}
	q.push(w)
	q.mu.Unlock()

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		head := q.heap[0] == w
		q.mu.Unlock()
		if !head {
			select {
			case <-w.wake:
				continue
			case <-ctx.Done():
				q.leave(w)
				return ctx.Err()
			}
		}
		ok, d, err := t.tryTake(ctx, n)
		if ok || err != nil {
			q.leave(w)
			return err
		}
		if hasDL && clk.now()+d > deadline {
			q.leave(w)
			return &WaitError{Wait: time.Duration(d), Deadline: dl}
		}
		if timer == nil {
			timer = time.NewTimer(time.Duration(d))
		} else {
			timer.Reset(time.Duration(d))
		}
		select {
		case <-timer.C:
		case <-w.wake:
			timer.Stop() // Go 1.23+: no stale tick can arrive after Stop
		case <-ctx.Done():
			q.leave(w)
			return ctx.Err()
		}
	}
}

// leave removes w and wakes the new head.
func (q *waitQueue) leave(w *waiter) {
	q.mu.Lock()
	q.remove(w)
	q.wakeHeadLocked()
	q.mu.Unlock()
}

// wakeHead tells the head to look again (after a rate change or a pause).
func (q *waitQueue) wakeHead() {
	if q.empty() {
		return
	}
	q.mu.Lock()
	q.wakeHeadLocked()
	q.mu.Unlock()
}

// requires q.mu held
func (q *waitQueue) wakeHeadLocked() {
	if len(q.heap) == 0 {
		return
	}
	select {
	case q.heap[0].wake <- struct{}{}:
	default:
	}
}

// requires q.mu held
func (q *waitQueue) push(w *waiter) {
	w.idx = len(q.heap)
	q.heap = append(q.heap, w)
	q.up(w.idx)
	q.count.Add(1)
	q.units.Add(w.n)
}

// requires q.mu held
func (q *waitQueue) remove(w *waiter) {
	i := w.idx
	if i < 0 || i >= len(q.heap) || q.heap[i] != w {
		return
	}
	last := len(q.heap) - 1
	q.swap(i, last)
	q.heap[last] = nil
	q.heap = q.heap[:last]
	if i < last {
		q.down(i)
		q.up(i)
	}
	w.idx = -1
	q.count.Add(-1)
	q.units.Add(-w.n)
	if len(q.heap) == 0 && cap(q.heap) > 64 {
		q.heap = nil // do not keep a burst's worth of slots forever
	}
}

func (q *waitQueue) swap(i, j int) {
	q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
	q.heap[i].idx = i
	q.heap[j].idx = j
}

func (q *waitQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.heap[i].before(q.heap[p]) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *waitQueue) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(q.heap) {
			return
		}
		m := l
		if r := l + 1; r < len(q.heap) && q.heap[r].before(q.heap[l]) {
			m = r
		}
		if !q.heap[m].before(q.heap[i]) {
			return
		}
		q.swap(i, m)
		i = m
	}
}
