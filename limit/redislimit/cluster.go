package redislimit

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// noRetryHook keeps any client layer from running a script twice. go-redis
// retries a command after EOF, dial, pool and timeout errors in places that
// MaxRetries does not reach (the cluster client's redirect loop), and a
// script whose reply was lost may already have taken its units. The hook
// hands those errors back as a *lostReplyError, which go-redis does not
// recognise as retryable. Errors that Redis answered (MOVED, ASK, NOSCRIPT,
// CLUSTERDOWN, ...) pass unchanged: the script did not run, and MOVED/ASK
// redirects are followed.
type noRetryHook struct{}

func (noRetryHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (noRetryHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (noRetryHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil || !isScript(cmd.Name()) {
			return err
		}
		var re redis.Error
		if errors.As(err, &re) {
			return err
		}
		return &lostReplyError{cause: err}
	}
}

func isScript(name string) bool {
	switch strings.ToLower(name) {
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
		return true
	}
	return false
}

// lostReplyError is a script call that failed without an answer from Redis
// (connection refused or reset, timeout): the script may or may not have
// run. It has no Unwrap and no Timeout method on purpose (go-redis retries
// errors that unwrap to EOF or a net.Error, or have a Timeout method); the
// text keeps the cause.
type lostReplyError struct{ cause error }

func (e *lostReplyError) Error() string { return "redislimit: no reply to script: " + e.cause.Error() }

// afterError reacts to a failed call: a cluster client reloads its slot
// map (asynchronously, at most once per 200ms inside go-redis) on a
// connection error, a lost reply, CLUSTERDOWN or a redirect, since a dead
// master refuses connections instead of answering MOVED and go-redis
// would otherwise keep the old map for up to a minute. A single-node client
// that is answered MOVED is pointed at a cluster: that is logged once.
func (l *Limiter) afterError(err error) {
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	var re redis.Error
	answered := errors.As(err, &re)
	msg := err.Error()
	if cc, ok := l.client.(*redis.ClusterClient); ok {
		if !answered || hasPrefix(msg, "CLUSTERDOWN", "MOVED", "ASK", "TRYAGAIN", "READONLY", "MASTERDOWN", "LOADING") {
			cc.ReloadState(context.Background())
		}
		return
	}
	if answered && hasPrefix(msg, "MOVED", "ASK") && l.movedHint.CompareAndSwap(false, true) {
		l.log.Error("redislimit: redis answered MOVED: the server is a Redis Cluster; set mode: cluster in the redis section",
			"limiter", l.name)
	}
}

func hasPrefix(s string, ps ...string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isCluster reports whether the limiter talks to a Redis Cluster.
func (l *Limiter) isCluster() bool {
	_, ok := l.client.(*redis.ClusterClient)
	return ok
}
