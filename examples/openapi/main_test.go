package main

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGeneratedClientRidesOutErrors(t *testing.T) {
	srv := newServer()
	defer srv.Close()
	c, tr, err := newItemsClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	ok, last := job(ctx, c, 30, 10)

	st := srv.Stats()
	if ok != 40 {
		t.Errorf("%d/40 ok, last failure %q", ok, last)
	}
	// Every request the API saw was one of the 40, or a retry of an
	// injected 503; nothing was throttled or performed twice.
	if st.Errors == 0 || st.Requests != 40+st.Errors || st.Rejected != 0 || st.Duplicates != 0 {
		t.Errorf("API saw %d requests (%d 503s, %d throttled, %d duplicates); want 40 + the 503s, none throttled or duplicated",
			st.Requests, st.Errors, st.Rejected, st.Duplicates)
	}
}
