package proxy

import (
	"sync"
	"sync/atomic"
)

// flights is the set of requests in flight (for Drain and the status
// page). It is cut into shards, each with its own lock, so that requests
// on different cores rarely take the same one: this is on every request's
// path.
type flights struct {
	next   atomic.Uint32
	shards [16]flightShard
}

type flightShard struct {
	mu sync.Mutex
	m  map[*reqState]struct{} // guarded by mu
	_  [48]byte               // one shard per cache line
}

// add puts s in a shard, chosen in turn; remove takes it out.
func (f *flights) add(s *reqState) {
	s.shard = f.next.Add(1) % uint32(len(f.shards))
	sh := &f.shards[s.shard]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = map[*reqState]struct{}{}
	}
	sh.m[s] = struct{}{}
	sh.mu.Unlock()
}

func (f *flights) remove(s *reqState) {
	sh := &f.shards[s.shard]
	sh.mu.Lock()
	delete(sh.m, s)
	sh.mu.Unlock()
}

// each calls fn for every request in flight, one shard's lock held at a
// time; fn must not block.
func (f *flights) each(fn func(*reqState)) {
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		for s := range sh.m {
			fn(s)
		}
		sh.mu.Unlock()
	}
}

// len is the number of requests in flight.
func (f *flights) len() int {
	n := 0
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
