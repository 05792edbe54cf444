package sluicetest

import (
	"slices"
	"time"
)

// defaultMaxRecords bounds the accept times and fingerprints kept when
// Options.MaxRecords is zero: about 2.5 MB in all.
const defaultMaxRecords = 100_000

// timeRing keeps the last len(buf) accept instants, as offsets from the
// provider's epoch. It is not safe for concurrent use.
type timeRing struct {
	buf  []time.Duration
	next int
}

func newTimeRing(n int) timeRing { return timeRing{buf: make([]time.Duration, 0, n)} }

func (r *timeRing) add(d time.Duration) {
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, d)
		return
	}
	r.buf[r.next] = d
	r.next = (r.next + 1) % len(r.buf)
}

// snapshot returns a copy of the kept instants.
func (r *timeRing) snapshot() []time.Duration { return slices.Clone(r.buf) }

// maxInWindow returns the most instants in any half-open interval
// [t, t+window). It sorts ts in place.
func maxInWindow(ts []time.Duration, window time.Duration) int {
	if window <= 0 {
		return 0
	}
	slices.Sort(ts)
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi]-ts[lo] >= window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// fingerprints is a bounded set of request fingerprints: when full, the
// oldest is forgotten. It is not safe for concurrent use.
type fingerprints struct {
	set   map[uint64]struct{}
	order []uint64 // insertion order, a ring once full
	next  int
}

func newFingerprints(n int) fingerprints {
	return fingerprints{set: make(map[uint64]struct{}), order: make([]uint64, 0, n)}
}

// seen records fp and reports whether it was already recorded.
func (f *fingerprints) seen(fp uint64) bool {
	if _, ok := f.set[fp]; ok {
		return true
	}
	if cap(f.order) == 0 {
		return false
	}
	if len(f.order) < cap(f.order) {
		f.order = append(f.order, fp)
	} else {
		delete(f.set, f.order[f.next])
		f.order[f.next] = fp
		f.next = (f.next + 1) % len(f.order)
	}
	f.set[fp] = struct{}{}
	return false
}
