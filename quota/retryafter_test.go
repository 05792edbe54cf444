package quota

import (
	"net/http"
	"testing"
	"time"
)

// An HTTP-date Retry-After is rounded to the second, and so is the Date it
// is read against: one less than two seconds ahead of the local clock
// reads as a whole second, the rounding the Tracker and the Transport leave to
// the pace (issue 10: read as it came, each retried request slept out a
// fraction of a second, goodput 0.83).
// Longer ones keep their local conversion.
func TestRetryAfterDateRounding(t *testing.T) {
	tests := []struct {
		name   string
		now    time.Duration // local arrival after t0; Date is t0
		retry  time.Duration // Retry-After instant after t0
		wantRA time.Duration
	}{
		{"just under a second", 10 * time.Millisecond, time.Second, time.Second},
		{"next second but one, late in the second", 990 * time.Millisecond, 2 * time.Second, time.Second},
		{"exactly two seconds: over one", 0, 2 * time.Second, 2 * time.Second},
		{"three seconds", 10 * time.Millisecond, 3 * time.Second, 2990 * time.Millisecond},
		{"two minutes", 0, 2 * time.Minute, 2 * time.Minute},
		{"in the past", 500 * time.Millisecond, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hdr("Retry-After", t0.Add(tt.retry).Format(http.TimeFormat))
			s := parse(http.StatusTooManyRequests, h, nil, "", t0.Add(tt.now), DialectRetryAfter)
			if !s.HasRetryAfter || s.RetryAfter != tt.wantRA {
				t.Errorf("RetryAfter = %v (%v), want %v", s.RetryAfter, s.HasRetryAfter, tt.wantRA)
			}
		})
	}
}
