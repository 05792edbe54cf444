package limit

import "context"

// Priority orders waiters: a higher value is served before a lower one that
// is still queued. Equal priorities are served first come, first served.
type Priority int8

// Common priorities. Any int8 value may be used.
const (
	PriorityLow    Priority = -10 // batch jobs, backfills
	PriorityNormal Priority = 0   // the default
	PriorityHigh   Priority = 10  // interactive requests
)

type priorityKey struct{}

// WithPriority returns a context that carries priority p to every limiter
// the request waits on.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityFrom returns the priority carried by ctx, or PriorityNormal.
func PriorityFrom(ctx context.Context) Priority {
	if p, ok := ctx.Value(priorityKey{}).(Priority); ok {
		return p
	}
	return PriorityNormal
}
