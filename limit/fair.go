package limit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Fair is a Limiter that serves the waiters of several consumers in
// weighted fair order over one inner limiter, and caps each consumer to a
// fraction of the inner limiter's rates if asked. A consumer is named on the
// context with WithConsumer; requests without one are consumer "".
//
// Waiters queue per consumer (by priority and arrival, as in a Bucket's
// queue). The picked waiters (one at a time over this package's limiters,
// up to FairOptions.InFlight over foreign ones) wait on the inner limiter;
// the others sleep. The pick is start-time fair queuing: consumer c's next
// request gets the tag max(V, F_c), where V is the tag of the last request
// granted and F_c is c's last tag plus n/weight; the smallest tag among the
// consumers whose cap allows them now goes next. A consumer that has been
// idle starts at V, so however many requests a greedy consumer has queued,
// a newcomer waits for the requests already picked and then for at most
// one request of each other waiting consumer (per its weight), not for the
// queue. While several consumers wait, each is granted units in proportion
// to its weight.
//
// A cap (Share.Cap) is hard: a consumer capped at 0.3 is granted at most
// 30% of each rate (with 30% of the burst, at least 1) even when nobody else
// wants the rest. Fairness is work-conserving: weights only order
// consumers that wait, and an uncapped consumer alone gets the whole rate.
//
// Priority (WithPriority) orders the requests of one consumer; across
// consumers, weights decide. Deadlines work as for the other limiters: a
// request whose turn would come after its context's deadline gets a
// *WaitError at once (a *CapError, which unwraps to one, when the
// consumer's cap is what makes it late); the estimate counts the units
// queued ahead of it by its own consumer and, per weight, by the others.
//
// Over a limiter shared between processes (limit/redislimit), fairness holds
// among the waiters of one Fair, that is of one process: each process
// forwards up to InFlight picked requests at a time to the shared limiter. A cap is global when
// FairOptions.NewCap builds it on the shared store, else it holds per
// process.
//
// A Fair is safe for concurrent use. It starts no goroutine. Create one with
// NewFair.
type Fair struct {
	inner   Limiter
	est     estimator // inner's estimate, nil for a foreign limiter
	local   bool      // inner does no I/O (this package's, without foreign members)
	clk     clock
	aging   int64
	shareOf func(string) Share
	newCap  func(string, []Rate) (Limiter, error)

	mu    sync.Mutex
	rates []Rate                   // guarded by mu
	cons  map[string]*fairConsumer // guarded by mu
	act   []*fairConsumer          // guarded by mu; consumers with waiters
	vtime float64                  // guarded by mu; V, the tag of the last grant
	// serving counts the picked waiters: those waiting on the inner
	// limiter (or taking their cap), at most window.
	serving int // guarded by mu
	window  int
	seq     uint64 // guarded by mu
}

// estimator is implemented by this package's limiters.
type estimator interface{ estimate(n int64) int64 }

// Share is what one consumer gets of a Fair limiter.
type Share struct {
	// Weight orders the consumer among those waiting: while several wait,
	// each is granted units in proportion to its weight. 0 means 1.
	Weight float64
	// Cap is the largest fraction of each rate the consumer may take, even
	// when alone (a hard cap), in (0, 1]. 0 means no cap.
	Cap float64
}

// FairOptions configures NewFair.
type FairOptions struct {
	// Rates are the rates of the inner limiter (one per member of a
	// Multi). Caps are these rates scaled by a consumer's Cap, and the
	// deadline estimates of a foreign inner limiter use them. Required when
	// any consumer has a cap.
	Rates []Rate
	// Share returns the share of a consumer; it is called once, when the
	// consumer is first seen. Nil gives every consumer weight 1 and no cap.
	Share func(consumer string) Share
	// NewCap builds the limiter that enforces a capped consumer's rates
	// (FairOptions.Rates scaled by its Cap). Nil means one Bucket per rate,
	// local to the Fair. A limit/redislimit limiter makes the cap global.
	NewCap func(consumer string, rates []Rate) (Limiter, error)
	// Clock is read for estimates and caps. Nil means the real clock.
	Clock Clock
	// Aging is how much waiting one priority level is worth within a
	// consumer's queue. 0 means DefaultAging.
	Aging time.Duration
	// InFlight is how many picked requests may wait on the inner limiter
	// at once. 0 means 1 over this package's limiters (a Multi with no
	// foreign member), which keeps the fair order exact, and 4 over others: a limit/redislimit limiter
	// takes a round trip to reserve each request, and one request at a time
	// per process (reserve, sleep, hand over, reserve) fell below the rate
	// when the processes were starved for CPU. With InFlight k a newcomer
	// waits for up to k requests already picked, not 1.
	InFlight int
}

// NewFair returns a Fair over inner.
func NewFair(inner Limiter, o FairOptions) (*Fair, error) {
	if inner == nil {
		return nil, errors.New("limit: NewFair needs an inner limiter")
	}
	for i, r := range o.Rates {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("limit: NewFair: rates[%d]: %w", i, err)
		}
	}
	f := &Fair{inner: inner, clk: newClock(o.Clock), aging: int64(o.Aging), shareOf: o.Share, newCap: o.NewCap,
		rates: append([]Rate(nil), o.Rates...), cons: map[string]*fairConsumer{}}
	if f.aging <= 0 {
		f.aging = int64(DefaultAging)
	}
	if e, ok := inner.(estimator); ok {
		f.est = e
	}
	switch l := inner.(type) {
	case *Bucket, *Window:
		f.local = true
	case *Multi:
		f.local = len(l.foreign) == 0
	}
	switch {
	case o.InFlight < 0:
		return nil, fmt.Errorf("limit: NewFair: in-flight %d must not be negative", o.InFlight)
	case o.InFlight > 0:
		f.window = o.InFlight
	case f.local:
		f.window = 1
	default:
		f.window = 4
	}
	return f, nil
}

// Inner returns the limiter f serves.
func (f *Fair) Inner() Limiter { return f.inner }

// fairConsumer is one consumer's queue and accounts.
type fairConsumer struct {
	name   string
	weight float64
	share  float64 // the cap; 0 when uncapped
	cap    *capSet // nil when uncapped
	both   Limiter // cap and inner at once, for Allow and Reserve; inner when uncapped
	finish float64 // F: the last tag plus n/weight
	q      []*fairWaiter
	units  int64 // sum of n over q
	// capAt (clk ns) is when the cap may grant the head of q again after it
	// refused; 0 when it did not.
	capAt int64
	act   bool // in Fair.act
}

// fairWaiter is one caller blocked in Wait.
type fairWaiter struct {
	c    *fairConsumer
	n    int64
	key  int64 // arrival minus priority*aging
	seq  uint64
	wake chan struct{} // buffered(1): "look again"
	// picked is set when w may take its cap and wait on the inner
	// limiter; its consumer's finish tag was then prev, and became
	// charged.
	picked        bool
	prev, charged float64
}

func (a *fairWaiter) before(b *fairWaiter) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.seq < b.seq
}

// consumerLocked returns the state of consumer name, creating it.
// requires f.mu held
func (f *Fair) consumerLocked(name string) (*fairConsumer, error) {
	if c := f.cons[name]; c != nil {
		return c, nil
	}
	var sh Share
	if f.shareOf != nil {
		sh = f.shareOf(name)
	}
	if sh.Weight < 0 || sh.Cap < 0 || sh.Cap > 1 {
		return nil, fmt.Errorf("limit: consumer %q: weight %g must not be negative and cap %g must be in (0, 1]", name, sh.Weight, sh.Cap)
	}
	c := &fairConsumer{name: name, weight: sh.Weight, both: f.inner}
	if c.weight == 0 {
		c.weight = 1
	}
	if sh.Cap > 0 && sh.Cap < 1 {
		cs, err := f.newCapSet(name, sh.Cap)
		if err != nil {
			return nil, err
		}
		c.share, c.cap = sh.Cap, cs
		if c.both, err = NewMulti(append(cs.members(), f.inner)...); err != nil {
			return nil, err
		}
	}
	if len(f.cons) >= maxIdleConsumers {
		f.pruneLocked()
	}
	f.cons[name] = c
	return c, nil
}

// maxIdleConsumers is how many consumers a Fair keeps before it forgets
// the idle uncapped ones (their only state is a finish tag).
const maxIdleConsumers = 1024

// requires f.mu held
func (f *Fair) pruneLocked() {
	for name, c := range f.cons {
		if len(c.q) == 0 && c.cap == nil {
			delete(f.cons, name)
		}
	}
}

// Wait blocks until n units are granted to the consumer named on ctx, in
// weighted fair order with the other consumers; see the type's doc.
func (f *Fair) Wait(ctx context.Context, n int64) error {
	if n <= 0 {
		return fmt.Errorf("%w: %d", ErrBadCost, n)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dl, hasDL := ctx.Deadline()
	f.mu.Lock()
	c, err := f.consumerLocked(ConsumerFrom(ctx))
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if f.serving == 0 && len(f.act) == 0 && f.local && (c.cap == nil || c.cap.foreign == nil) {
		// Nobody waits and every limiter is local: take at once if the
		// units are there, without queueing (no I/O under f.mu).
		if r, err := c.both.Allow(ctx, n); err == nil && r.Allowed {
			f.grantedLocked(c, n)
			f.mu.Unlock()
			return nil
		}
	}
	now := f.clk.now()
	w := &fairWaiter{c: c, n: n, key: now - int64(PriorityFrom(ctx))*f.aging, seq: f.seq, wake: make(chan struct{}, 1)}
	f.seq++
	f.insertLocked(w)
	if hasDL {
		if err := f.lateLocked(w, now, dl); err != nil {
			f.leaveLocked(w)
			f.mu.Unlock()
			return err
		}
	}
	f.handOffLocked(now)
	f.mu.Unlock()

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		f.mu.Lock()
		mine := w.picked
		var sleep int64
		if !mine {
			now := f.clk.now()
			if hasDL {
				if err := f.lateLocked(w, now, dl); err != nil {
					f.leaveLocked(w)
					f.mu.Unlock()
					return err
				}
			}
			if c.capAt > now && c.next() == w {
				sleep = c.capAt - now // the head of a capped consumer watches the cap
			}
		}
		f.mu.Unlock()
		if mine {
			if done, err := f.serve(ctx, w, dl, hasDL); done {
				return err
			}
			continue
		}
		var tick <-chan time.Time
		if sleep > 0 {
			if timer == nil {
				timer = time.NewTimer(time.Duration(sleep))
			} else {
				timer.Reset(time.Duration(sleep))
			}
			tick = timer.C
		}
		select {
		case <-w.wake:
			if timer != nil {
				timer.Stop()
			}
		case <-tick:
			f.mu.Lock()
			f.handOffLocked(f.clk.now())
			f.mu.Unlock()
		case <-ctx.Done():
			f.mu.Lock()
			f.leaveLocked(w)
			f.mu.Unlock()
			return ctx.Err()
		}
	}
}

// serve is run by a picked waiter (its consumer already charged): take
// the consumer's cap, then wait on the inner limiter. done is false when
// the cap refused and w goes back to waiting, its charge undone.
func (f *Fair) serve(ctx context.Context, w *fairWaiter, dl time.Time, hasDL bool) (done bool, err error) {
	c := w.c
	var undo func()
	if c.cap != nil {
		var ok bool
		var retry int64
		undo, ok, retry, err = c.cap.take(ctx, w.n)
		if err == nil && !ok {
			f.mu.Lock()
			now := f.clk.now()
			c.capAt = now + retry
			f.unpickLocked(w)
			if hasDL {
				err = f.lateLocked(w, now, dl)
			}
			if err != nil {
				f.leaveLocked(w)
			} else {
				f.handOffLocked(now)
			}
			f.mu.Unlock()
			return err != nil, err
		}
	}
	if err == nil {
		err = f.inner.Wait(ctx, w.n)
		if err != nil && undo != nil {
			undo()
		}
	}
	f.mu.Lock()
	f.leaveLocked(w)
	f.mu.Unlock()
	return true, err
}

// grantedLocked advances the virtual time and c's finish tag for a grant
// of n units to c.
// requires f.mu held
func (f *Fair) grantedLocked(c *fairConsumer, n int64) {
	tag := max(f.vtime, c.finish)
	f.vtime = tag
	c.finish = tag + float64(n)/c.weight
}

// insertLocked queues w in its consumer's queue by (key, seq).
// requires f.mu held
func (f *Fair) insertLocked(w *fairWaiter) {
	c := w.c
	i := len(c.q)
	for i > 0 && w.before(c.q[i-1]) {
		i--
	}
	c.q = append(c.q, nil)
	copy(c.q[i+1:], c.q[i:])
	c.q[i] = w
	c.units += w.n
	if !c.act {
		c.act = true
		f.act = append(f.act, c)
	}
}

// next returns c's first waiter not yet picked, or nil.
func (c *fairConsumer) next() *fairWaiter {
	for _, w := range c.q {
		if !w.picked {
			return w
		}
	}
	return nil
}

// unpickLocked puts w back among the waiters after its cap refused: its
// charge is undone if nothing was charged to its consumer since.
// requires f.mu held
func (f *Fair) unpickLocked(w *fairWaiter) {
	if !w.picked {
		return
	}
	w.picked = false
	f.serving--
	if w.c.finish == w.charged {
		w.c.finish = w.prev
	}
}

// leaveLocked removes w; if w was picked, or was the next of a consumer
// waiting on its cap, the next waiter is told to look again.
// requires f.mu held
func (f *Fair) leaveLocked(w *fairWaiter) {
	c := w.c
	head := c.next() == w
	if w.picked {
		w.picked = false
		f.serving--
	}
	for i, o := range c.q {
		if o == w {
			c.q = append(c.q[:i], c.q[i+1:]...)
			c.units -= w.n
			break
		}
	}
	if len(c.q) == 0 {
		c.q, c.capAt = nil, 0
		c.act = false
		for i, o := range f.act {
			if o == c {
				f.act = append(f.act[:i], f.act[i+1:]...)
				break
			}
		}
	} else if nx := c.next(); head && c.capAt != 0 && nx != nil {
		signal(nx) // the new next watches the cap
	}
	f.handOffLocked(f.clk.now())
}

// handOffLocked picks waiters to wait on the inner limiter while fewer
// than window are: each time the next waiter of the consumer with the
// smallest tag among those whose cap has not refused it until after now
// (ties to the earlier arrival), charging its consumer at once.
// requires f.mu held
func (f *Fair) handOffLocked(now int64) {
	for f.serving < f.window {
		var best *fairConsumer
		var bestW *fairWaiter
		var bestTag float64
		for _, c := range f.act {
			if c.capAt > now {
				continue
			}
			w := c.next()
			if w == nil {
				continue
			}
			tag := max(f.vtime, c.finish)
			if best == nil || tag < bestTag || (tag == bestTag && w.before(bestW)) {
				best, bestW, bestTag = c, w, tag
			}
		}
		if best == nil {
			return
		}
		best.capAt = 0
		bestW.picked, bestW.prev = true, best.finish
		f.grantedLocked(best, bestW.n)
		bestW.charged = best.finish
		f.serving++
		signal(bestW)
	}
}

func signal(w *fairWaiter) {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

var _ Limiter = (*Fair)(nil)
