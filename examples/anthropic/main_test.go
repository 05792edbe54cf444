package main

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWithCostKeepsTokensUnderTheLimit(t *testing.T) {
	tests := []struct {
		name          string
		cost          bool
		wantThrottled bool
	}{
		{"tokens passed with WithCost", true, false},
		{"every call counted as 1", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer()
			defer srv.Close()
			tr, err := newTransport(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			ok, last := askAll(ctx, newAnthropicClient(tr, srv.URL), 12, 4, tt.cost)
			st := srv.Stats()
			if ok != 12 {
				t.Errorf("%d/12 ok, last error %v", ok, last)
			}
			if got := st.Rejected > 0; got != tt.wantThrottled {
				t.Errorf("provider throttled %d of %d requests; want some: %v", st.Rejected, st.Requests, tt.wantThrottled)
			}
			if !tt.wantThrottled && st.Requests != 12 {
				t.Errorf("provider saw %d requests, want 12", st.Requests)
			}
		})
	}
}
