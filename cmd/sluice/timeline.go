package main

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// outcome is how the provider answered one request, as the timeline counts it.
type outcome uint8

const (
	accepted  outcome = iota // a 2xx
	throttled                // the provider's throttle: 429, or its dialect's 403/503 form
	failed                   // any other answer, or no answer at all
)

// event is one answer the provider gave, at an offset from the run's start.
type event struct {
	at time.Duration
	o  outcome
}

// timeline records what the provider answered and when. It is an
// http.Handler middleware in front of the provider, so it sees exactly what
// went over the wire, retries included. It is safe for concurrent use.
type timeline struct {
	next      http.Handler
	throttle  func(status int, h http.Header) bool
	maxEvents int

	mu     sync.Mutex
	start  time.Time            // guarded by mu
	events []event              // guarded by mu
	tally  map[string]*[3]int64 // guarded by mu; answers by outcome, per workerHeader value
}

// workerHeader names the worker process of `sluice demo -proxy` that sent
// a request; the timeline counts the provider's answers per worker.
const workerHeader = "X-Demo-Worker"

// maxTallies bounds the workers the timeline counts separately.
const maxTallies = 64

// newTimeline wraps next. throttle says whether a status is the provider's
// throttle; maxEvents bounds the events kept (later ones are dropped).
func newTimeline(next http.Handler, throttle func(int, http.Header) bool, maxEvents int) *timeline {
	return &timeline{next: next, throttle: throttle, maxEvents: maxEvents, start: time.Now()}
}

// restart forgets every event and starts the clock again.
func (t *timeline) restart() {
	t.mu.Lock()
	t.start, t.events, t.tally = time.Now(), t.events[:0], nil
	t.mu.Unlock()
}

// snapshot returns a copy of the events recorded since the last restart.
func (t *timeline) snapshot() []event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]event(nil), t.events...)
}

// byWorker returns the provider's answers to worker w since the last
// restart, indexed by outcome.
func (t *timeline) byWorker(w string) [3]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.tally[w]; c != nil {
		return *c
	}
	return [3]int64{}
}

func (t *timeline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	worker := r.Header.Get(workerHeader)
	defer func() {
		if v := recover(); v != nil { // the provider aborted the response
			sw.dropped = true
			t.record(sw, worker)
			panic(v)
		}
		t.record(sw, worker)
	}()
	t.next.ServeHTTP(sw, r)
}

func (t *timeline) record(sw *statusWriter, worker string) {
	o := failed
	switch {
	case sw.dropped:
		o = failed // the provider closed the connection without an answer
	case sw.code()/100 == 2:
		o = accepted
	case t.throttle(sw.code(), sw.Header()):
		o = throttled
	}
	t.mu.Lock()
	if len(t.events) < t.maxEvents {
		t.events = append(t.events, event{at: time.Since(t.start), o: o})
	}
	if worker != "" {
		c := t.tally[worker]
		if c == nil && len(t.tally) < maxTallies {
			if t.tally == nil {
				t.tally = map[string]*[3]int64{}
			}
			c = new([3]int64)
			t.tally[worker] = c
		}
		if c != nil {
			c[o]++
		}
	}
	t.mu.Unlock()
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status  int
	dropped bool
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Hijack hands the connection to the provider, which uses it to drop a
// response on purpose.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	s.dropped = true
	return hj.Hijack()
}

func (s *statusWriter) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Unwrap lets http.ResponseController reach the connection (the provider
// hijacks it to drop a response).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// series is a run's timeline cut into equal buckets.
type series struct {
	width     time.Duration // of one bucket
	accepted  []int
	throttled []int
	failed    []int
}

// bucketize cuts events into buckets of the given width covering [0, span).
func bucketize(events []event, width, span time.Duration) series {
	n := max(1, int((span+width-1)/width))
	s := series{width: width, accepted: make([]int, n), throttled: make([]int, n), failed: make([]int, n)}
	for _, e := range events {
		i := min(n-1, max(0, int(e.at/width)))
		switch e.o {
		case accepted:
			s.accepted[i]++
		case throttled:
			s.throttled[i]++
		default:
			s.failed[i]++
		}
	}
	return s
}

// bucketWidth picks the narrowest of a few round widths, a quarter second at
// least (finer buckets show the grant jitter, not the pace), at which span
// fits in at most cols buckets.
func bucketWidth(span time.Duration, cols int) time.Duration {
	for _, w := range []time.Duration{
		250 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
	} {
		if span <= w*time.Duration(cols) {
			return w
		}
	}
	w := (span + time.Duration(cols) - 1) / time.Duration(cols)
	return (w + time.Second - 1).Truncate(time.Second) // whole seconds, rounded up
}
