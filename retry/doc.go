// Package retry holds the mechanics of sluice's retries: exponential backoff
// with jitter ([Policy.Delay]), server-supplied waits ([ParseRetryAfter]),
// which outcomes are worth another attempt ([Classify]), which requests may be
// re-sent at all ([MethodRetryable], [Policy.MayRetry]), and a retry budget
// per route that stops retry storms ([Budget]).
//
// The package makes decisions and never sleeps, sends or logs; the sluice
// Transport runs the loop. One attempt of that loop, in outline:
//
//	c := retry.Classify(callerCtx, resp, err)
//	if !p.MayRetry(req, resp, err, c) || attempt >= p.WithDefaults().MaxAttempts || !budget.TryWithdraw() {
//		return resp, err // or wrap it as retries exhausted
//	}
//	wait := p.Delay(attempt, prev, rnd)
//	if ra, ok := retry.ParseRetryAfter(resp.Header, now); ok { ... } // server wait wins, capped by MaxRetryAfter
//
// Every function is pure or guarded by one short lock, and takes its time and
// randomness from the caller, so tests run on a fake clock.
package retry
