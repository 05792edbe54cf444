// Package circuit is sluice's circuit breaker: a thin layer over
// github.com/sony/gobreaker/v2's TwoStepCircuitBreaker that fits a
// RoundTripper.
//
// A [Breaker] is closed until the upstream looks sick, then open (every
// request fails at once with an error matching [ErrOpen]) for
// Settings.OpenTimeout, then half-open: it lets Settings.HalfOpenProbes
// requests through ([ErrTooManyProbes] for the rest); that many successes in
// a row close it, any failure opens it again.
//
//	closed --(N failures in a row, or failure ratio over the window)--> open
//	open --(OpenTimeout passed)--> half-open
//	half-open --(HalfOpenProbes successes)--> closed
//	half-open --(a failure)--> open
//
// Use it in two steps, around the request:
//
//	done, err := b.Allow()
//	if err != nil {
//		return nil, err // open: fail fast
//	}
//	resp, err := send(req)
//	done(outcomeOf(resp, err)) // exactly once: Success, Failure or Neutral
//
// A [Neutral] outcome (a 429, a request its caller canceled) counts toward
// neither side: it does not break a run of failures, is not part of the
// ratio's volume, and in half-open it frees the probe slot for another
// request.
//
// # What this layer adds to gobreaker
//
// gobreaker supplies the state machine, the probe bound, the generation
// counter that drops outcomes of requests allowed before the last
// transition, exclusions (used for Neutral), and the rolling window (Window
// cut in 10 buckets). This package adds:
//
//   - the trip rule: ConsecutiveFailures in a row OR FailureRatio of the
//     counted outcomes in the window once MinRequests were counted
//     (gobreaker's default is only "more than 5 in a row"); consecutive
//     failures also expire with the window;
//   - OnStateChange outside every lock. gobreaker calls its callback with
//     its mutex held, so a callback that reads the breaker's state
//     deadlocks. Here gobreaker's callback only queues the transition and
//     the goroutine that caused it delivers it after gobreaker has unlocked;
//     one goroutine at a time delivers, so calls arrive in order and once
//     per transition. Open becomes half-open lazily, on the first Allow or
//     State call after OpenTimeout, and is reported then;
//   - errors that name the breaker and say what happened, matching the
//     package sentinels with errors.Is, allocated once per Breaker;
//   - a done func that ignores calls after the first, and validation of
//     Settings with errors naming the bad field and value.
//
// Time comes from time.Now inside gobreaker, which testing/synctest fakes:
// the tests run every transition in a synctest bubble.
package circuit
