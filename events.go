package sluice

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/redact"
)

// event logs one step of a request as a record whose message is the event's
// stable name, with the route, method and URL (credentials redacted) and the
// given attributes. Nothing is built when the logger would drop the record.
func (t *Transport) event(ctx context.Context, level slog.Level, name string, rt *route, req *http.Request, attrs ...slog.Attr) {
	t.observeEvent(ctx, name, rt, attrs)
	if !t.log.Enabled(ctx, level) {
		return
	}
	base := []slog.Attr{
		slog.String("event", name),
		slog.String("route", rt.name),
		slog.String("method", req.Method),
		slog.String("url", redact.URL(req.URL)),
	}
	t.log.LogAttrs(ctx, level, name, append(base, attrs...)...)
}

// now returns the current time; one place to read the clock.
func (t *Transport) now() time.Time { return time.Now() }
