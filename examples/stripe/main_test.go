package main

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCreatesEachCustomerOnceUnderLostResponses(t *testing.T) {
	srv := newServer()
	defer srv.Close()
	tr, err := newTransport(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	sc := newStripeClient(tr, srv.URL, "sk_test_example")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	ids, last := createAll(ctx, sc, 40, 8)

	st := srv.Stats()
	if len(ids) != 40 {
		t.Errorf("%d/40 customers created, last error %v", len(ids), last)
	}
	distinct := map[string]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	if len(distinct) != len(ids) {
		t.Errorf("%d customers share %d IDs", len(ids), len(distinct))
	}
	if performed := st.Accepted - st.Replays; performed != 40 || st.Duplicates != 0 {
		t.Errorf("provider performed %d creations (%d accepted, %d replays), %d duplicates; want 40 and 0", performed, st.Accepted, st.Replays, st.Duplicates)
	}
	if st.LostResponses == 0 || st.Replays == 0 {
		t.Errorf("provider lost %d answers and replayed %d; the test wants some of each", st.LostResponses, st.Replays)
	}
	t.Logf("provider: %d requests, %d lost, %d replayed, %d throttled", st.Requests, st.LostResponses, st.Replays, st.Rejected)
}
