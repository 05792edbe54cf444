package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// When sluice's retries end on a status, openai-go gets that response and
// builds its own *openai.Error from it; sluice's attempts show in the
// response's headers.
func TestGiveUpOnStatusGivesOpenAIError(t *testing.T) {
	srv, client := setup(t, sluicetest.Options{Faults: sluicetest.Faults{ErrorRatio: 1}})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := ask(ctx, client, "hi", 10)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
		t.Fatalf("err = %v (%T), want *openai.Error with status 503", err, err)
	}
	if got := sluice.OutcomeOf(apiErr.Response); got.Attempts != 3 || got.GaveUp != "max attempts" {
		t.Errorf("outcome %+v, want 3 attempts, gave up on max attempts", got)
	}
	if got := srv.Stats().Requests; got != 3 {
		t.Errorf("provider saw %d requests, want 3", got)
	}
}
