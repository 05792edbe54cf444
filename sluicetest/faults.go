package sluicetest

import (
	"math/rand/v2"
	"time"
)

// Faults are failures the provider injects, each drawn independently per
// request from a pseudo-random sequence seeded by Seed, so a run with the
// same requests in the same order fails the same way. Ratios are shares of
// requests between 0 and 1; they are taken in the order Reset, Hang, Error,
// Lost, and whatever exceeds a total of 1 is ignored. The zero Faults
// injects nothing.
type Faults struct {
	// ErrorRatio is the share of requests answered with ErrorStatus before
	// the limit is consulted: they are not charged against the quota.
	ErrorRatio float64
	// ErrorStatus is the status of injected errors. Zero means 503.
	ErrorStatus int
	// Latency delays every response, before the limit is consulted. Zero
	// means none. It runs on real timers (fake ones inside a synctest
	// bubble), whatever Options.Now says.
	Latency time.Duration
	// Jitter adds a uniform random delay in [0, Jitter) to Latency.
	Jitter time.Duration
	// ResetRatio is the share of requests whose connection is closed
	// without a response (a TCP reset), before the limit is consulted.
	ResetRatio float64
	// HangRatio is the share of requests never answered: the provider holds
	// them until the client gives up or the provider is closed, then closes
	// the connection.
	HangRatio float64
	// LostRatio is the share of requests that are accepted and charged (they
	// count in Accepted and for Duplicates) but whose response is lost: the
	// connection is closed instead. A client that retries such a request
	// without an Idempotency-Key performs it twice.
	LostRatio float64
	// Seed seeds the fault sequence. Equal seeds give equal sequences.
	Seed int64
}

// fault is the kind of failure drawn for one request.
type fault uint8

const (
	faultNone fault = iota
	faultReset
	faultHang
	faultError
	faultLost
)

// newRand returns the fault sequence for f.
func (f *Faults) newRand() *rand.Rand {
	return rand.New(rand.NewPCG(uint64(f.Seed), 0x736c7569636574))
}

// draw picks a fault and a latency for one request using rng.
func (f *Faults) draw(rng *rand.Rand) (fault, time.Duration) {
	lat := max(f.Latency, 0)
	if f.Jitter > 0 {
		lat += time.Duration(rng.Int64N(int64(f.Jitter)))
	}
	if f.ResetRatio <= 0 && f.HangRatio <= 0 && f.ErrorRatio <= 0 && f.LostRatio <= 0 {
		return faultNone, lat
	}
	u := rng.Float64()
	for _, c := range [...]struct {
		ratio float64
		kind  fault
	}{{f.ResetRatio, faultReset}, {f.HangRatio, faultHang}, {f.ErrorRatio, faultError}, {f.LostRatio, faultLost}} {
		if c.ratio > 0 {
			if u < c.ratio {
				return c.kind, lat
			}
			u -= c.ratio
		}
	}
	return faultNone, lat
}

// errorStatus returns the status of an injected error.
func (f *Faults) errorStatus() int {
	if f.ErrorStatus < 100 || f.ErrorStatus > 999 {
		return 503
	}
	return f.ErrorStatus
}
