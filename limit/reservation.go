package limit

import (
	"context"
	"time"
)

// Reservation is a claim on n units that may be used from At on.
// A Reservation is returned by Reserve; the zero value is not useful.
type Reservation struct {
	at     time.Time
	n      int64
	cancel func(ctx context.Context) // returns the units; nil when nothing to return
	// owner and tok replace cancel for this package's limiters, so that a
	// Reserve allocates only the Reservation.
	owner canceler
	tok   int64
}

// canceler is a limiter of this package that can give a reservation back.
type canceler interface {
	cancelReservation(r *Reservation)
}

// NewReservation builds a Reservation for n units usable from at. cancel, if
// non-nil, is called at most once by Cancel to give the units back. It is for
// implementations of Limiter outside this package (limit/redislimit).
func NewReservation(at time.Time, n int64, cancel func(ctx context.Context)) *Reservation {
	return &Reservation{at: at, n: n, cancel: cancel}
}

// At returns the instant from which the reserved units may be used.
func (r *Reservation) At() time.Time { return r.at }

// N returns the number of units reserved.
func (r *Reservation) N() int64 { return r.n }

// Cancel gives the units back where no later reservation depends on them.
// It is safe to call more than once; calls after the first do nothing.
func (r *Reservation) Cancel(ctx context.Context) {
	if c := r.cancel; c != nil {
		r.cancel = nil
		c(ctx)
	}
	if o := r.owner; o != nil {
		r.owner = nil
		o.cancelReservation(r)
	}
}
