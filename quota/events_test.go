package quota

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a slog.Handler that keeps each record's message and bucket.
type recorder struct {
	mu   sync.Mutex
	msgs []string
	bad  []string // records without event == message or without route
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var bucket, event, route string
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "bucket":
			bucket = a.Value.String()
		case "event":
			event = a.Value.String()
		case "route":
			route = a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message+" "+bucket)
	if event != rec.Message || route == "" {
		r.bad = append(r.bad, rec.Message+": event="+event+" route="+route)
	}
	r.mu.Unlock()
	return nil
}

// A bucket is learned, paused when empty and resumed at its reset, and the
// Logger hears each once.
func TestTrackerEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		tr := newTestTracker(t, TrackerOptions{Logger: slog.New(rec)})
		start := time.Now()
		feed(t, tr, "api", Cost{}, respAt(start, 200, "X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "0",
			"X-RateLimit-Reset", unix(start.Add(2*time.Second)), "X-RateLimit-Resource", "core"))
		acquireAt(t, tr, start, Cost{})
		acquireAt(t, tr, start, Cost{})
		// The 2-second wait is long enough (LongWait) for the waiting
		// request to log quota_wait too.
		want := []string{"bucket_learned github:core", "bucket_paused github:core", "quota_wait github:core", "bucket_resumed github:core"}
		var got []string
		for _, m := range rec.msgs {
			if !slices.Contains([]string{"bucket_paced github:core"}, m) {
				got = append(got, m)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("events = %q, want %q", rec.msgs, want)
		}
		// Every record carries "event" and "route", like the Transport's
		// (fails before: quota's records had neither).
		if len(rec.bad) > 0 {
			t.Errorf("records lacking event/route: %q", rec.bad)
		}
	})
}
