package proxy

import (
	"sync"
	"time"
)

// historyLen is the number of one-second samples the status page shows.
const historyLen = 300

// point is one route's sample.
type point struct {
	Sent      float64 `json:"sent"`    // attempts per second
	Limit     float64 `json:"limit"`   // configured limit per second, 0 when none
	Waiting   int64   `json:"waiting"` // requests waiting (all routes)
	Throttles float64 `json:"thr"`     // throttles per second
}

// sample is the state of every route at one instant.
type sample struct {
	Time   int64            `json:"t"`
	Routes map[string]point `json:"routes"`
}

// history samples the pipeline's counters once a second so the status
// page can draw the last few minutes at once.
type history struct {
	mu      sync.Mutex
	samples []sample // guarded by mu; oldest first, at most historyLen
	stop    chan struct{}
	done    chan struct{}
}

type totals struct {
	at                  time.Time
	attempts, throttles map[string]int64
}

func (h *Handler) startHistory(every time.Duration) {
	hs := &history{stop: make(chan struct{}), done: make(chan struct{})}
	h.hist = hs
	go func() {
		defer close(hs.done)
		t := time.NewTicker(every)
		defer t.Stop()
		prev := h.totals()
		for {
			select {
			case <-hs.stop:
				return
			case <-t.C:
			}
			cur := h.totals()
			dt := cur.at.Sub(prev.at).Seconds()
			s := sample{Time: cur.at.UnixMilli(), Routes: map[string]point{}}
			waiting := h.waiting()
			for name, a := range cur.attempts {
				p := point{Waiting: waiting, Sent: float64(a-prev.attempts[name]) / dt,
					Throttles: float64(cur.throttles[name]-prev.throttles[name]) / dt}
				if li, ok := h.limits[name]; ok {
					p.Limit = float64(li.quota) / li.window.Seconds()
				}
				s.Routes[name] = p
			}
			prev = cur
			hs.mu.Lock()
			hs.samples = append(hs.samples, s)
			if len(hs.samples) > historyLen {
				hs.samples = hs.samples[len(hs.samples)-historyLen:]
			}
			hs.mu.Unlock()
		}
	}()
}

func (h *Handler) totals() totals {
	st := h.tr.Stats()
	t := totals{at: time.Now(), attempts: map[string]int64{}, throttles: map[string]int64{}}
	for _, r := range st.Routes {
		t.attempts[r.Name] = r.Attempts
		t.throttles[r.Name] = r.Throttles
	}
	return t
}

func (hs *history) snapshot() []sample {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]sample(nil), hs.samples...)
}

func (hs *history) close() {
	select {
	case <-hs.stop:
	default:
		close(hs.stop)
	}
	<-hs.done
}
