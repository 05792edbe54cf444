package sluice

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/circuit"
	"github.com/sluicehq/sluice/limit"
	"github.com/sluicehq/sluice/quota"
	"github.com/sluicehq/sluice/retry"
)

// The checks below are the part of Validate that NewTransport would
// otherwise find only when it builds the parts: they build every limiter,
// breaker, budget and the quota tracker with the same functions NewTransport
// uses (none of them starts a goroutine or touches the network), and report
// each refusal under the YAML path of the field. NewTransport runs Validate
// first, so Validate, `sluice check` and NewTransport accept and refuse the
// same configurations.

// buildChecks runs the build checks of c.
func (ck *checker) buildChecks(c Config) {
	ck.builtPolicy("defaults", c.Defaults, c.Redis)
	for i, r := range c.Routes {
		ck.builtPolicy(fmt.Sprintf("routes[%d]", i), r.Policy, c.Redis)
	}
	q := c.Quota
	for _, f := range []struct {
		name string
		v    float64
	}{{"initial_rate", q.Adaptive.InitialRate}, {"min_rate", q.Adaptive.MinRate}, {"max_rate", q.Adaptive.MaxRate}} {
		if !finite(f.v) {
			ck.add("quota.adaptive."+f.name, "%v must be a finite number", f.v)
		}
	}
	if len(ck.errs) == 0 {
		_, err := quota.NewTracker(trackerOptions(q, nil))
		ck.refused("quota", err)
	}
	if r := c.Redis; r != nil {
		ck.builtRedis(r)
	}
}

// finite reports whether f is neither NaN nor infinite.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// refused records a constructor's refusal under field, without the
// package prefix of its message.
func (ck *checker) refused(field string, err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	for _, p := range []string{"limit: ", "circuit: ", "retry: ", "quota: ", "redislimit: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	ck.add(field, "%s", msg)
}

// builtPolicy checks the parts of pol that are set (parts left unset are
// the defaults', checked under "defaults").
func (ck *checker) builtPolicy(p string, pol Policy, rc *RedisConfig) {
	for i, l := range pol.Limits {
		lp := fmt.Sprintf("%s.limits[%d]", p, i)
		r, err := rateOf(l)
		if err != nil {
			continue // reported by the static checks
		}
		if problem := limitProblem(l, r, rc); problem != "" {
			ck.add(lp, "%s", problem)
			continue
		}
		if !l.Shared {
			if l.Strict {
				_, err = limit.NewWindow(r)
			} else {
				_, err = limit.NewBucket(r)
			}
			ck.refused(lp, err)
		}
	}
	if c := pol.Circuit; c != nil {
		cp := p + ".circuit"
		switch {
		case math.IsNaN(c.FailureRatio):
			ck.add(cp+".failure_ratio", "%v must be between 0 and 1", c.FailureRatio)
		case c.Window > 0 && c.Window < circuit.MinWindow:
			ck.add(cp+".window", "%v is shorter than the minimum %v", c.Window, circuit.MinWindow)
		case c.HalfOpenProbes > circuit.MaxProbes:
			ck.add(cp+".half_open_probes", "%d is more than the maximum %d", c.HalfOpenProbes, circuit.MaxProbes)
		case !c.Disabled:
			_, err := circuit.New("check", breakerSettings(*c, slog.New(slog.DiscardHandler)))
			ck.refused(cp, err)
		}
	}
	if rc := pol.Retry; rc != nil {
		c := compilePolicy(Policy{Retry: rc})
		if _, ok := jitterKinds[rc.Jitter]; ok {
			ck.refused(p+".retry", c.retry.Validate())
		}
		if b := rc.Budget; b != nil {
			bp := p + ".retry.budget"
			switch {
			case math.IsNaN(b.Ratio):
				ck.add(bp+".ratio", "%v must be between 0 and 1", b.Ratio)
			case !finite(b.MinPerSecond) || b.MinPerSecond > 1e6:
				ck.add(bp+".min_per_second", "%v must be a number between 0 and 1e6", b.MinPerSecond)
			default:
				_, err := retry.NewBudget(c.budget)
				ck.refused(bp, err)
			}
		}
	}
}

// limitProblem says what makes limit l (of rate r) unbuildable with the
// redis section rc, or "".
func limitProblem(l LimitConfig, r limit.Rate, rc *RedisConfig) string {
	if !l.Shared || rc == nil {
		return ""
	}
	if !l.Strict {
		return ""
	}
	switch {
	case r.IsInf():
		return `rate "inf" cannot be a strict shared window: drop strict or give a finite rate`
	case r.Period < time.Millisecond || r.Period%time.Microsecond != 0:
		return fmt.Sprintf("a strict shared window's period %v must be at least 1ms in whole microseconds", r.Period)
	case rc.Lease > 1:
		return fmt.Sprintf("a strict shared limit cannot lease (redis.lease is %d; leasing is for token buckets): drop strict or set redis.lease to 0", rc.Lease)
	}
	return ""
}

// builtRedis checks what connecting would refuse, without connecting.
func (ck *checker) builtRedis(r *RedisConfig) {
	if strings.ContainsAny(r.Prefix, "{}") {
		ck.add("redis.prefix", "%q must not contain '{' or '}' (sluice adds the hash tag itself)", r.Prefix)
	}
	if r.Client != nil {
		return
	}
	if strings.HasPrefix(r.Addr, "redis://") || strings.HasPrefix(r.Addr, "rediss://") {
		if _, err := redis.ParseURL(r.Addr); err != nil {
			// Not quoted: the URL may hold a password.
			ck.add("redis.addr", "is not a valid redis:// URL")
		}
	}
	if r.PasswordEnv != "" {
		if _, ok := os.LookupEnv(r.PasswordEnv); !ok {
			ck.add("redis.password_env", "environment variable %s is not set", r.PasswordEnv)
		}
	}
}

// rateOf is the rate of limit l: its rate string, with the burst of its
// Burst field or of a ",burst=N" suffix. Both at once is an error, unless
// they agree.
func rateOf(l LimitConfig) (limit.Rate, error) {
	r, err := limit.ParseRate(l.Rate)
	if err != nil {
		return r, err
	}
	switch {
	case l.Burst == 0:
	case r.Burst == 0 || r.Burst == l.Burst:
		r.Burst = l.Burst
	default:
		return r, errBurstTwice
	}
	return r, nil
}

var errBurstTwice = errors.New("gives a burst both in the rate (\",burst=N\") and in the burst field; keep one")

// trackerOptions are the quota tracker's options from the quota section.
func trackerOptions(q QuotaOptions, log *slog.Logger) quota.TrackerOptions {
	burst := 1.0 // a job that fits in the remaining quota runs at full speed
	if q.BurstFraction != nil {
		burst = *q.BurstFraction
	}
	return quota.TrackerOptions{
		Logger:        log,
		MaxBuckets:    q.MaxBuckets,
		BurstFraction: burst,
		Adaptive: quota.AdaptiveOptions{
			Disabled:    q.Adaptive.Disabled,
			InitialRate: q.Adaptive.InitialRate,
			MinRate:     q.Adaptive.MinRate,
			MaxRate:     q.Adaptive.MaxRate,
		},
	}
}
