package quota

import (
	"testing"
	"testing/synctest"
	"time"
)

// A GitHub host with 10 left for the next hour: paced requests are spread
// over the hour, but revalidations (whose 304s GitHub does not charge) go
// at once and draw nothing, until the bucket is empty. In a dialect that
// charges 304s they are paced like any request.
func TestTrackerRevalidationFreeInGitHubDialect(t *testing.T) {
	tests := []struct {
		name     string
		headers  []string
		wantFree bool
	}{
		{"github", []string{"X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "10", "X-RateLimit-Resource", "core"}, true},
		{"ietf", []string{"RateLimit-Policy", `"default";q=5000;w=3600`, "RateLimit", `"default";r=10;t=3600`}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTestTracker(t, TrackerOptions{})
				start := time.Now()
				h := append([]string{}, tc.headers...)
				if tc.name == "github" {
					h = append(h, "X-RateLimit-Reset", unix(start.Add(time.Hour)))
				}
				feed(t, tr, "api", Cost{}, respAt(start, 200, h...))
				var last time.Duration
				for range 9 {
					last = acquireAt(t, tr, start, Cost{Revalidation: true})
				}
				if free := last == 0; free != tc.wantFree {
					t.Fatalf("9 revalidations with 10 left took %v; want free %v", last, tc.wantFree)
				}
				if !tc.wantFree {
					return
				}
				for range 11 {
					if got := acquireAt(t, tr, start, Cost{Revalidation: true}); got != 0 {
						t.Fatalf("a revalidation waited %v; free ones draw nothing", got)
					}
				}
				// The 20 free grants drew nothing: a paced request is still
				// granted from the 10 left, not after the reset.
				if got := acquireAt(t, tr, start, Cost{}); got >= time.Hour {
					t.Fatalf("after free revalidations a request waited %v; they drew from the bucket", got)
				}
			})
		})
	}
}
