package sluice_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sluicehq/sluice"
)

// When retries end on a failed status, the caller still gets the
// provider's last response, body intact, as net/http's contract asks; the
// outcome is on the response and, through WithOutcome, in the context.
func ExampleOutcomeOf() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"message":"try later"}`)
	}))
	defer srv.Close()

	tr, err := sluice.NewTransport(sluice.Config{Defaults: sluice.Policy{
		Retry: &sluice.RetryConfig{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
	}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()

	var o sluice.Outcome
	req, _ := http.NewRequestWithContext(sluice.WithOutcome(context.Background(), &o), "GET", srv.URL, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println(sluice.OutcomeOf(resp).Attempts, sluice.OutcomeOf(resp).GaveUp)
	fmt.Println(o.Attempts, o.GaveUp)
	// Output:
	// 503 {"message":"try later"}
	// 2 max attempts
	// 2 max attempts
}
