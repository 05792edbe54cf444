package quota

import (
	"fmt"
	"math"
	"time"
)

// AdaptiveOptions configures the rate discovery for hosts that throttle
// without stating their quota (bare 429s, nginx's 503). The zero value
// uses the AWS SDKs' adaptive retry constants.
type AdaptiveOptions struct {
	// Disabled turns rate discovery off: bare throttles then pace nothing.
	Disabled bool
	// InitialRate is the rate (requests/s) to fall back to at a host's first
	// bare throttle; zero means the rate measured until then (since the
	// first contact's answer), growing in slow start to the next throttle.
	InitialRate float64
	// MinRate is the lowest rate the limiter goes down to; zero means 0.5/s.
	MinRate float64
	// MaxRate caps the rate; zero means no cap. The first-contact ramp
	// ends there.
	MaxRate float64
	// Beta is the multiplicative decrease on a throttle; zero means 0.7.
	// A throttle within 10% of the rate of the last one backs off a third
	// as far (0.9 for 0.7). Must be in (0, 1).
	Beta float64
	// Scale is CUBIC's growth constant C; zero means 0.4.
	Scale float64
}

// The AWS SDK adaptive retry constants (aws-sdk-go-v2 aws/retry).
const (
	defaultBeta    = 0.7
	defaultScale   = 0.4
	defaultMinRate = 0.5
	smooth         = 0.8 // weight of the newest measured-rate sample
	rateBucket     = 0.5 // seconds: requests are counted in half-second buckets
	minCapacity    = 1.0 // the token bucket always holds at least one request
	burstSeconds   = 0.1 // capacity = 0.1 s of the rate (AWS: 1 s), so an idle host is not hit with a burst
)

func (o AdaptiveOptions) validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"InitialRate", o.InitialRate}, {"MinRate", o.MinRate}, {"MaxRate", o.MaxRate}, {"Scale", o.Scale}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return fmt.Errorf("quota: Adaptive.%s %v must be a finite number >= 0", f.name, f.v)
		}
	}
	if !(o.Beta >= 0 && o.Beta < 1) {
		return fmt.Errorf("quota: Adaptive.Beta %v must be in (0, 1)", o.Beta)
	}
	if o.MaxRate > 0 && o.MaxRate < o.MinRate {
		return fmt.Errorf("quota: Adaptive.MaxRate %v is below MinRate %v", o.MaxRate, o.MinRate)
	}
	return nil
}

// cubic is the AWS SDKs' adaptive client rate limiter for one host: a token
// bucket whose fill rate follows CUBIC (RFC 9438) on the measured send rate.
// All fields are guarded by Tracker.mu.
type cubic struct {
	beta, scale, minRate, maxRate, initial float64

	epoch   time.Time // time origin: t below is seconds since epoch
	enabled bool      // off until the first bare throttle

	// token bucket
	fillRate, capacity, tokens float64
	lastRefill                 float64

	// measured send rate
	measured   float64
	lastBucket float64
	count      float64
	first      float64 // when the first response was counted
	warm       bool    // a half-second bucket has completed

	// CUBIC
	lastMax      float64
	lastThrottle float64
	window       float64 // W = cbrt(lastMax*(1-beta)/C)

	throttles int64

	// successes in the last accepted window, in acceptedSlots slots of
	// acceptedSlot, the newest at slot
	accepted    [acceptedSlots]float64
	slot        int64
	firstAccept float64 // when the first success was counted
	anyAccepted bool

	slowStart    bool      // doubling the rate until the next throttle
	ramping      bool      // slow start from the first contact, no throttle seen yet
	lastDecrease time.Time // throttles of requests sent before it do not decrease again
}

// The first-contact ramp: once a host's first answer says nothing of its
// quota, the requests that waited for it go out from rampStart requests/s,
// the rate doubling every rampDoubling, rather than all at once. Releasing
// 15 (or 63) requests together into a provider's burst of 10 drew 5 to 61
// immediate 429s; ramping, the burst is used up at a rate a few times the
// limit and the first 429 comes while few requests are in flight. When the
// rate passes rampEnd (or AdaptiveOptions.MaxRate) with no throttle the
// ramp ends: a host that throttles without quota headers above 2,000/s is
// rare, and past it the burst is bounded by the caller's concurrency. The
// ramp is the price of not knowing: concurrent traffic to a host that
// never throttles is held to it for about 0.4 s, once per Tracker (3,000
// GETs from 16 workers at 2 ms: 0.74 s instead of 0.38 s on fake time).
// It runs only when a crowd waited for the first answer (rampCrowd).
const (
	rampStart    = 10.0
	rampDoubling = 50 * time.Millisecond
	rampEnd      = 2000.0
)

// confirmBand is how close (as a share) a throttle's rate must be to the
// last throttle's for the limit to count as confirmed.
const confirmBand = 0.1

// slowStartDoubling is how long the rate takes to double in slow start.
const slowStartDoubling = 250 * time.Millisecond

// ramp starts the first-contact ramp at now (see rampStart).
func (c *cubic) ramp(now time.Time) {
	t := c.sec(now)
	c.enabled, c.slowStart, c.ramping = true, true, true
	c.lastMax = rampStart / c.beta
	c.lastThrottle = t
	c.lastRefill = t
	c.setRate(t, rampStart)
	c.tokens = c.capacity
}

// stopRamp ends the first-contact ramp (its rate passed rampEnd, or the
// host's answers state a quota), leaving the limiter as it was before the
// first contact: off until a bare throttle.
func (c *cubic) stopRamp() {
	if c.ramping {
		c.enabled, c.slowStart, c.ramping = false, false, false
	}
}

func newCubic(o AdaptiveOptions, now time.Time) *cubic {
	c := &cubic{beta: o.Beta, scale: o.Scale, minRate: o.MinRate, maxRate: o.MaxRate, initial: o.InitialRate, epoch: now}
	if c.beta == 0 {
		c.beta = defaultBeta
	}
	if c.scale == 0 {
		c.scale = defaultScale
	}
	if c.minRate == 0 {
		c.minRate = defaultMinRate
	}
	return c
}

// sec returns now as seconds since the limiter's epoch.
func (c *cubic) sec(now time.Time) float64 { return now.Sub(c.epoch).Seconds() }

// update feeds one response to a request sent at sent; throttled is a
// bare throttle. It returns the fill rate before and after, and whether it
// changed while enabled.
func (c *cubic) update(now, sent time.Time, throttled bool) (before, after float64, changed bool) {
	t := c.sec(now)
	c.measure(t)
	if !throttled {
		c.accept(t)
	}
	before = c.fillRate
	var calc float64
	switch {
	case throttled && c.enabled && !sent.After(c.lastDecrease):
		// Sent before the last decrease took effect (or at the same
		// instant, as a burst's requests are): the same congestion event,
		// already answered (TCP reacts once per round trip).
		return before, before, false
	case throttled:
		r := c.measured
		if c.ramping && c.initial > 0 {
			r = c.initial / c.beta // the configured rate is where it lands
		} else if c.ramping {
			// The ramp's rate, doubling every 50 ms, is several times
			// the limit when the provider's burst runs out; the rate
			// measured since the first contact (burst included) is the
			// closer bound.
			r = min(r, c.fillRate)
		} else if c.enabled && c.slowStart {
			// The limit lies between half the rate that hit it and that
			// rate (as TCP's ssthresh is half the window that hit loss).
			// The smoothed measured rate lags a rate that doubles every
			// 250 ms; what the provider accepted in the last 250 ms
			// (its bucket ran dry: it accepts at its rate, plus what
			// was left of its burst) is the nearer figure. At 200/s
			// half the rate was 167/s and CUBIC took 10 s to climb.
			r = min(max(c.acceptedRate(t), c.fillRate/2), c.fillRate)
		} else if c.enabled {
			// The measured rate may lag too (a job starting after an
			// idle gap counted over part of a bucket: 37/s at a 50/s
			// limit, and the rate fell to 26/s for 7 s); the provider
			// accepted at least what it did in the last 250 ms.
			r = min(max(r, c.acceptedRate(t)), c.fillRate)
		} else if c.initial > 0 {
			r = c.initial / c.beta // the configured rate is where it lands
		}
		beta := c.beta
		if c.enabled && !c.slowStart && math.Abs(r-c.lastMax) <= confirmBand*c.lastMax {
			// The limit is where the last throttle found it: back off a
			// third as far, and climb back (CUBIC's curve) as much
			// sooner. A full decrease at every confirmation kept the
			// rate about 15 % under the limit for a second out of three.
			beta = 1 - (1-c.beta)/3
		}
		c.lastMax = r
		c.window = math.Cbrt(c.lastMax * (1 - beta) / c.scale)
		c.lastThrottle = t
		c.lastDecrease = now
		calc = r * beta
		switch {
		case !c.enabled:
			c.enabled = true
			c.slowStart = c.initial == 0
			c.lastRefill = t
			c.tokens = 0
		case c.ramping:
			// The ramp's first throttle: go on in slow start (doubling
			// every 250 ms) from there, as after a first throttle
			// without a ramp. The measured rate may lie well under the
			// limit (at 200/s the ramp averaged 115/s), and CUBIC alone
			// took 10 s to climb from it. With InitialRate set, it
			// lands there, as a first throttle does.
			c.ramping = false
			c.slowStart = c.initial == 0
		default:
			c.slowStart = false
		}
	case !c.enabled:
		return before, before, false
	case c.slowStart:
		// The rate measured before the first throttle says little (it may
		// be a burst's), so grow exponentially from it until the next
		// throttle finds the limit, as TCP's slow start does.
		doubling := slowStartDoubling
		if c.ramping {
			doubling = rampDoubling
		}
		calc = c.lastMax * c.beta * math.Exp2((t-c.lastThrottle)/doubling.Seconds())
		if c.ramping && (calc > rampEnd || c.maxRate > 0 && calc >= c.maxRate) {
			c.stopRamp()
			return before, before, true
		}
	default:
		d := t - c.lastThrottle - c.window
		calc = c.scale*d*d*d + c.lastMax
		calc = min(calc, 2*c.measured) // AWS: never more than twice what is being sent
	}
	c.setRate(t, calc)
	return before, c.fillRate, throttled || math.Abs(c.fillRate-before) > 0.1*before
}

// measure counts a response in the half-second buckets and updates the
// smoothed measured rate. Before the first completed bucket, the rate is
// estimated at every response as the count since the first response over
// the time since it (at least burstSeconds), so that a throttle in the
// first half second does not collapse the rate to the floor: the estimate
// once taken at the first response alone (1 per 0.5 s) made a bare 429 40
// ms into a 16-goroutine burst set the rate to 1.4/s.
func (c *cubic) measure(t float64) {
	b := math.Floor(t/rateBucket) * rateBucket
	if c.count == 0 && !c.warm && c.measured == 0 {
		c.first = t
		c.lastBucket = b
	}
	c.count++
	if b > c.lastBucket+2*rateBucket {
		// Idle: a sample spread over the gap would say the host wants
		// almost nothing and collapse the rate (AWS's cap of twice the
		// measured rate). Start counting afresh and keep the old rate.
		c.count = 1
		c.lastBucket = b
		c.first = t
		return
	}
	if b > c.lastBucket && c.warm {
		cur := c.count / (b - c.lastBucket)
		c.measured = cur*smooth + c.measured*(1-smooth)
		c.count = 0
		c.lastBucket = b
		return
	}
	if b > c.lastBucket {
		// The first bucket completes: its rate is the count since the
		// first response, over the time since.
		c.measured = (c.count - 1) / max(b-c.first, burstSeconds)
		c.warm = true
		c.count = 1
		c.lastBucket = b
		return
	}
	if !c.warm {
		c.measured = c.count / max(t-c.first, burstSeconds)
	}
}

// setRate sets the bucket's fill rate and capacity.
func (c *cubic) setRate(t, r float64) {
	c.refill(t)
	if c.maxRate > 0 {
		r = min(r, c.maxRate)
	}
	c.fillRate = max(r, c.minRate)
	c.capacity = max(r*burstSeconds, minCapacity)
	c.tokens = min(c.tokens, c.capacity)
}

func (c *cubic) refill(t float64) {
	if t > c.lastRefill {
		c.tokens = min(c.capacity, c.tokens+(t-c.lastRefill)*c.fillRate)
		c.lastRefill = t
	}
}

// earliest returns when n tokens are available.
func (c *cubic) earliest(now time.Time, n float64) time.Time {
	c.refill(c.sec(now))
	if c.tokens >= n || c.fillRate <= 0 {
		return now
	}
	return now.Add(secs((n - c.tokens) / c.fillRate))
}

// take draws n tokens.
func (c *cubic) take(now time.Time, n float64) {
	c.refill(c.sec(now))
	c.tokens -= n
}

// The accepted window: successes are counted over the last 250 ms, in
// five slots of 50 ms.
const (
	acceptedSlots = 5
	acceptedSlot  = 0.05 // seconds
)

// advance moves the accepted window to t's slot.
func (c *cubic) advance(t float64) {
	s := int64(math.Floor(t / acceptedSlot))
	for c.slot < s {
		c.slot++
		c.accepted[c.slot%acceptedSlots] = 0
		if s-c.slot > acceptedSlots {
			c.slot = s - acceptedSlots
		}
	}
}

// accept counts a success answered at t.
func (c *cubic) accept(t float64) {
	if !c.anyAccepted {
		c.anyAccepted, c.firstAccept = true, t
	}
	c.advance(t)
	c.accepted[c.slot%acceptedSlots]++
}

// acceptedRate returns the successes per second over the accepted window
// ending at t.
func (c *cubic) acceptedRate(t float64) float64 {
	c.advance(t)
	var n float64
	for _, v := range c.accepted {
		n += v
	}
	// The window, or the time since the first success if shorter: 11
	// successes in the first 12 ms are not 55/s.
	span := (acceptedSlots-1)*acceptedSlot + (t - float64(c.slot)*acceptedSlot)
	if c.anyAccepted {
		span = min(span, t-c.firstAccept)
	}
	return n / max(span, acceptedSlot)
}
