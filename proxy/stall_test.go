package proxy

import "time"

// stallWatch measures how late this process is scheduled while the worker
// tests run: a goroutine sleeps 5 ms at a time and keeps the largest
// overshoot. On a machine with more runnable work than cores the processes
// of a test (provider, proxies, workers) are descheduled for tens to
// hundreds of milliseconds; a request granted on time then reaches the
// provider late and bunched with later ones, which the 1% margin of the
// worker tests' route cannot absorb.
type stallWatch struct {
	stop   chan struct{}
	stalls chan []stall
}

// stall is one overshoot of 10 ms or more, ending at end.
type stall struct {
	end time.Time
	d   time.Duration
}

func watchStalls() *stallWatch {
	w := &stallWatch{stop: make(chan struct{}), stalls: make(chan []stall, 1)}
	go func() {
		var ss []stall
		for {
			t0 := time.Now()
			select {
			case <-w.stop:
				w.stalls <- ss
				return
			case <-time.After(5 * time.Millisecond):
			}
			if d := time.Since(t0) - 5*time.Millisecond; d >= 10*time.Millisecond {
				ss = append(ss, stall{time.Now(), d})
			}
		}
	}()
	return w
}

// Stop ends the watch and returns the stalls seen.
func (w *stallWatch) Stop() []stall {
	close(w.stop)
	return <-w.stalls
}

// worstStall returns the longest stall that overlaps [from, to].
func worstStall(ss []stall, from, to time.Time) time.Duration {
	var worst time.Duration
	for _, s := range ss {
		if !s.end.Before(from) && !s.end.Add(-s.d).After(to) {
			worst = max(worst, s.d)
		}
	}
	return worst
}

// stallLimit is the overshoot above which the worker tests do not assert
// the provider's 429s and the quota share (they log them).
const stallLimit = 200 * time.Millisecond
