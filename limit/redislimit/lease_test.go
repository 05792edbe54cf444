package redislimit

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// TestLeaseRoundTrips checks that with Lease k, k decisions cost one round
// trip while the units are available now.
func TestLeaseRoundTrips(t *testing.T) {
	for _, b := range allBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			l, _ := newTestBucket(t, b, limit.PerSecond(1000).WithBurst(1000), Options{Lease: 5})
			ctx := context.Background()
			for i := range 100 {
				if r, err := l.Allow(ctx, 1); err != nil || !r.Allowed {
					t.Fatalf("Allow #%d = %+v, %v", i, r, err)
				}
			}
			if st := l.Stats(); st.Calls != 20 || st.LeaseHits != 80 {
				t.Errorf("100 decisions: %d calls, %d lease hits; want 20 and 80", st.Calls, st.LeaseHits)
			}
		})
	}
}

// TestLeaseSequence follows leased units on the fake clock: 50/s, burst
// 10 (T = 20ms), Lease 5, so a leased unit expires 100ms after it becomes
// usable.
func TestLeaseSequence(t *testing.T) {
	l, clk := newTestBucket(t, newMini(t), limit.PerSecond(50).WithBurst(10), Options{Lease: 5})
	ctx := context.Background()
	ms := time.Millisecond
	for i := range 10 {
		if r, _ := l.Allow(ctx, 1); !r.Allowed {
			t.Fatalf("Allow #%d denied within the burst", i+1)
		}
	}
	calls := func() int64 { return l.Stats().Calls }
	if c := calls(); c != 2 {
		t.Errorf("burst of 10 took %d calls, want 2", c)
	}
	if r, _ := l.Allow(ctx, 1); r.Allowed || r.RetryAfter != 20*ms {
		t.Errorf("11th: %+v, want denied for 20ms", r)
	}
	clk.Advance(20 * ms)
	// One unit now; the four leased with it become usable 20ms apart.
	if r, _ := l.Allow(ctx, 1); !r.Allowed {
		t.Errorf("after 20ms: %+v, want allowed", r)
	}
	before := calls()
	if r, _ := l.Allow(ctx, 1); r.Allowed || r.RetryAfter != 20*ms {
		t.Errorf("next: %+v, want denied locally for 20ms", r)
	}
	if calls() != before {
		t.Error("a local denial went to redis")
	}
	t0 := clk.Now()
	r, err := l.Reserve(ctx, 2) // leased units at +20ms and +40ms
	if err != nil || r.At().Sub(t0) != 40*ms {
		t.Fatalf("Reserve(2) from the lease: at +%v, %v; want +40ms", r.At().Sub(t0), err)
	}
	r.Cancel(ctx) // back into the pool
	r, err = l.Reserve(ctx, 1)
	if err != nil || r.At().Sub(t0) != 20*ms || calls() != before {
		t.Fatalf("Reserve(1) after Cancel: at +%v, %v, %d calls; want +20ms from the pool", r.At().Sub(t0), err, calls()-before)
	}
	// The rest (+40, +60, +80ms) expires 100ms after each becomes usable.
	clk.Advance(181 * ms)
	if r, _ := l.Allow(ctx, 1); !r.Allowed || calls() != before+1 {
		t.Errorf("after expiry: %+v with %d calls, want allowed by redis", r, calls()-before)
	}
	if err := l.PauseUntil(ctx, clk.Now().Add(50*ms)); err != nil {
		t.Fatal(err)
	}
	if r, _ := l.Allow(ctx, 1); r.Allowed {
		t.Error("a leased unit was spent during this worker's own pause")
	}
}

// TestLeaseOvershoot drives three leasing workers sharing 50/s, burst 10,
// in a random order with random gaps (so leased units are often spent
// late), and measures how far the grants exceed what the limit allows in
// any interval. The documented bound is Lease units; without leasing it
// is zero.
func TestLeaseOvershoot(t *testing.T) {
	for _, lease := range []int64{0, 5} {
		b := newMini(t)
		clk := newFakeClock(b.mr)
		p := prefix(t, b.client)
		r := limit.PerSecond(50).WithBurst(10)
		var workers []*Limiter
		for range 3 {
			l, err := NewBucket(b.client, "shared", r, Options{Prefix: p, Lease: lease, Logger: quiet(), Timeout: testTimeout})
			if err != nil {
				t.Fatal(err)
			}
			l.clock = clk.Now
			workers = append(workers, l)
		}
		rng := rand.New(rand.NewPCG(1, uint64(lease)))
		var grants []time.Time
		ctx := context.Background()
		for range 1500 {
			clk.Advance(time.Duration(rng.IntN(30)) * time.Millisecond)
			res, err := workers[rng.IntN(len(workers))].Allow(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed {
				grants = append(grants, clk.Now())
			}
		}
		over := overshoot(grants, r, []time.Duration{0, 20 * time.Millisecond, 200 * time.Millisecond, time.Second})
		t.Logf("lease %d: %d grants, worst overshoot %d units", lease, len(grants), over)
		if over > lease {
			t.Errorf("lease %d: overshoot %d units, documented bound %d", lease, over, lease)
		}
	}
}

// TestLeaseOvershootWorstCase builds the worst case: worker A leases 5
// units from a full bucket at t0 and spends one; the bucket refills while
// A holds four; at t0+100ms, the last instant A's units are valid, worker B
// takes everything Redis has (10) and A spends its four: 14 units at one
// instant where the limit allows a burst of 10. The documented bound is
// Lease (5) units.
func TestLeaseOvershootWorstCase(t *testing.T) {
	b := newMini(t)
	clk := newFakeClock(b.mr)
	p := prefix(t, b.client)
	r := limit.PerSecond(50).WithBurst(10)
	mk := func(lease int64) *Limiter {
		l, err := NewBucket(b.client, "shared", r, Options{Prefix: p, Lease: lease, Logger: quiet(), Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		l.clock = clk.Now
		return l
	}
	a, other := mk(5), mk(0)
	ctx := context.Background()
	var grants []time.Time
	spend := func(l *Limiter, max int) {
		for range max {
			res, err := l.Allow(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Allowed {
				return
			}
			grants = append(grants, clk.Now())
		}
	}
	spend(a, 1)
	clk.Advance(100 * time.Millisecond)
	spend(other, 100)
	spend(a, 100)
	over := overshoot(grants, r, []time.Duration{0, 20 * time.Millisecond, 200 * time.Millisecond})
	t.Logf("worst case: %d grants, overshoot %d units", len(grants), over)
	if over != 4 {
		t.Errorf("overshoot %d, want 4 in this construction (bound 5)", over)
	}
}

// overshoot returns the most grants in any closed interval of one of the
// given lengths beyond what rate r allows there: burst + floor(L/T).
func overshoot(grants []time.Time, r limit.Rate, lengths []time.Duration) int64 {
	slices.SortFunc(grants, time.Time.Compare)
	var worst int64
	for _, L := range lengths {
		allowed := r.BurstOrCount() + int64(L/r.Interval())
		j := 0
		for i := range grants {
			for j < len(grants) && !grants[j].After(grants[i].Add(L)) {
				j++
			}
			worst = max(worst, int64(j-i)-allowed)
		}
	}
	return worst
}

// TestLeaseTTL checks when leased units expire: after LeaseTTL, by
// default Lease x ExpectedWorkers intervals (50/s: 20ms each).
func TestLeaseTTL(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		opts     Options
		after    time.Duration
		wantCall bool // the next unit comes from Redis: the lease expired
	}{
		{"default at expiry", Options{Lease: 5}, 100 * ms, false},
		{"default after", Options{Lease: 5}, 101 * ms, true},
		{"two workers", Options{Lease: 5, ExpectedWorkers: 2}, 199 * ms, false},
		{"two workers after", Options{Lease: 5, ExpectedWorkers: 2}, 201 * ms, true},
		{"explicit", Options{Lease: 5, LeaseTTL: 10 * ms}, 11 * ms, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clk := newTestBucket(t, newMini(t), limit.PerSecond(50).WithBurst(10), tt.opts)
			ctx := context.Background()
			if r, _ := l.Allow(ctx, 1); !r.Allowed { // leases 5, all usable now
				t.Fatal("first Allow denied")
			}
			clk.Advance(tt.after)
			before := l.Stats().Calls
			if r, _ := l.Allow(ctx, 1); !r.Allowed {
				t.Fatal("second Allow denied")
			}
			if got := l.Stats().Calls > before; got != tt.wantCall {
				t.Errorf("after %v: went to redis %v, want %v", tt.after, got, tt.wantCall)
			}
		})
	}
}

// TestPoolFind checks which leased units a request of n gets.
func TestPoolFind(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ms := func(d int) time.Time { return t0.Add(time.Duration(d) * time.Millisecond) }
	u := func(at, exp int) unit { return unit{at: ms(at), exp: ms(exp)} }
	tests := []struct {
		name   string
		units  []unit
		n      int64
		now    int
		wantOK bool
		wantI  int
		wantAt int
		left   int // units left after find (expired ones dropped)
	}{
		{"empty", nil, 1, 0, false, 0, 0, 0},
		{"usable now", []unit{u(0, 100), u(20, 120)}, 1, 10, true, 0, 10, 2},
		{"future", []unit{u(20, 120)}, 1, 10, true, 0, 20, 1},
		{"two, from the later one", []unit{u(0, 100), u(20, 120)}, 2, 10, true, 0, 20, 2},
		{"expired dropped", []unit{u(0, 100), u(20, 120)}, 1, 110, true, 0, 110, 1},
		{"too few", []unit{u(0, 100)}, 2, 0, false, 1, 0, 1},
		{"first would expire before the last is usable", []unit{u(0, 10), u(50, 150), u(60, 160)}, 2, 0, true, 1, 60, 3},
	}
	for _, tt := range tests {
		p := pool{units: slices.Clone(tt.units)}
		i, at, ok := p.find(tt.n, ms(tt.now))
		if ok != tt.wantOK || i != tt.wantI || (ok && !at.Equal(ms(tt.wantAt))) || len(p.units) != tt.left {
			t.Errorf("%s: find(%d) = %d, %v, %v with %d left; want %d, +%dms, %v with %d left",
				tt.name, tt.n, i, at.Sub(t0), ok, len(p.units), tt.wantI, tt.wantAt, tt.wantOK, tt.left)
		}
	}
}
