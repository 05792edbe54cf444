package redislimit

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// TestHandoverRepays checks both ends of an outage under FailLocal: the
// fallback starts drained (no burst on top of what Redis granted), and the
// units it granted are charged to Redis when Redis answers again, so the
// shared bucket does not hand out a fresh burst on top of them.
func TestHandoverRepays(t *testing.T) {
	srv := startServer(t, 0)
	l, err := NewBucket(srv.client(true), "api", limit.PerSecond(10), Options{ // burst 10: horizon 1s
		ProbeInterval: 50 * time.Millisecond,
		Timeout:       time.Second,
		Logger:        quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r, err := l.Allow(ctx, 1); err != nil || !r.Allowed {
		t.Fatalf("with redis up: %+v, %v", r, err)
	}
	srv.kill()
	if r, _ := l.Allow(ctx, 1); r.Allowed {
		t.Fatal("the fallback granted at once: it should start drained")
	}
	// the drained fallback grants at 10/s: wait for three units
	local := 0
	for deadline := time.Now().Add(5 * time.Second); local < 3 && time.Now().Before(deadline); {
		res, err := l.Reserve(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(res.At())) // the reservation's own instant
		local++
	}
	if local != 3 {
		t.Fatalf("%d local grants", local)
	}
	startServer(t, srv.port)
	// the first call after the probe interval goes to redis (the restart
	// took longer than the 50ms interval)
	if r, err := l.Allow(ctx, 1); err != nil || !r.Allowed || l.Stats().Down {
		t.Fatalf("after the restart: %+v, %v, %+v; want allowed by redis", r, err, l.Stats())
	}
	if st := l.Stats(); st.Down || st.Repaid != int64(local) {
		t.Fatalf("stats after return %+v, want up and %d units repaid", st, local)
	}
	// the restarted Redis held a full burst of 10: one went to the probe,
	// three to the repayment, so at most 6 more now (7 if a unit came back
	// while the test ran)
	more := 0
	for range 20 {
		if r, err := l.Allow(ctx, 1); err != nil {
			t.Fatal(err)
		} else if r.Allowed {
			more++
		}
	}
	if more > 7 || more < 5 {
		t.Errorf("%d allowed by redis after the return, want 6 (10 - probe - 3 repaid)", more)
	}
}
