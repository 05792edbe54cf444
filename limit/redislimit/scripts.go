package redislimit

import (
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts. Each redis.Script is immutable once built: it knows its
// SHA-1 and runs by EVALSHA, falling back to EVAL (which also loads it into
// the server's cache) only when the server answers NOSCRIPT.
var (
	//go:embed gcra.lua
	gcraSrc string
	//go:embed gcra_cancel.lua
	gcraCancelSrc string
	//go:embed window.lua
	windowSrc string
	//go:embed window_cancel.lua
	windowCancelSrc string
	//go:embed pause.lua
	pauseSrc string

	gcraScript         = redis.NewScript(gcraSrc)
	gcraCancelScript   = redis.NewScript(gcraCancelSrc)
	windowScript       = redis.NewScript(windowSrc)
	windowCancelScript = redis.NewScript(windowCancelSrc)
	pauseScript        = redis.NewScript(pauseSrc)
)

// noMaxWait is the max-wait argument meaning "grant now or not at all".
const noMaxWait = -1

// foreverMicros is the max wait used when the context has no deadline:
// about 31 years, far beyond any wait a limiter will compute.
const foreverMicros = int64(1e15)

// decision is a script's answer, converted to local time.
type decision struct {
	granted   int64           // units taken; 0 = denied
	wait      time.Duration   // until the caller's units may be used (retry-after when denied)
	remaining int64           // units still available now; -1 = no limit
	reset     time.Duration   // until the full burst is back
	token     string          // what Cancel needs: the stored TAT, or the window member
	extras    []time.Duration // leased units: time until each may be used
	now       time.Time       // local time at which the reply arrived
}

// parseDecision converts the array replies of gcra.lua and window.lua.
func parseDecision(v any, now time.Time) (decision, error) {
	a, ok := v.([]any)
	if !ok || len(a) < 5 {
		return decision{}, fmt.Errorf("redislimit: unexpected script reply %v", v)
	}
	var x [4]int64
	for i := range x {
		if x[i], ok = a[i].(int64); !ok {
			return decision{}, fmt.Errorf("redislimit: unexpected script reply %v", v)
		}
	}
	// durations beyond foreverMicros would overflow time.Duration
	x[1], x[3] = min(max(x[1], 0), foreverMicros), min(max(x[3], 0), foreverMicros)
	d := decision{
		granted:   x[0],
		wait:      microDuration(x[1]),
		remaining: x[2],
		reset:     microDuration(x[3]),
		now:       now,
	}
	if d.token, ok = a[4].(string); !ok {
		return decision{}, fmt.Errorf("redislimit: unexpected script reply %v", v)
	}
	if len(a) > 5 {
		ex, _ := a[5].([]any)
		for _, e := range ex {
			x, ok := e.(int64)
			if !ok {
				return decision{}, fmt.Errorf("redislimit: unexpected lease reply %v", v)
			}
			d.extras = append(d.extras, microDuration(x))
		}
	}
	return d, nil
}

// microDuration converts a script's microseconds to a Duration, clamped to
// [0, about 292 years] so that a value out of range (a corrupt or hostile
// key) cannot overflow into a negative wait.
func microDuration(us int64) time.Duration {
	const most = int64(math.MaxInt64 / int64(time.Microsecond))
	return time.Duration(min(max(us, 0), most)) * time.Microsecond
}

// micros formats d as whole microseconds for a script argument.
func micros(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }

// intervalMicros is the emission interval of count units per period in
// microseconds, possibly fractional (0 for no limit).
func intervalMicros(count int64, period time.Duration) string {
	if count <= 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(period)/float64(count)/1e3, 'f', -1, 64)
}
