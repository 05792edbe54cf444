package main

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// When sluice's retries end on a status, the generated client gets that
// response, body and all, as it would without sluice.
func TestGiveUpOnStatusGivesGeneratedResponse(t *testing.T) {
	srv := sluicetest.NewServer(sluicetest.Options{Faults: sluicetest.Faults{ErrorRatio: 1}, Handler: itemsHandler})
	defer srv.Close()
	c, tr, err := newItemsClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := c.GetItemWithResponse(ctx, "1")
	if err != nil || res.StatusCode() != 503 || len(res.Body) == 0 {
		t.Fatalf("err %v, response %+v; want the 503 with its body", err, res)
	}
	if got := sluice.OutcomeOf(res.HTTPResponse); got.Attempts != 5 || got.GaveUp != "max attempts" {
		t.Errorf("outcome %+v, want 5 attempts, gave up on max attempts", got)
	}
	if got := srv.Stats().Requests; got != 5 {
		t.Errorf("provider saw %d requests, want 5", got)
	}
}
