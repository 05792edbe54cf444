// Package sluicetest provides a simulated rate-limited HTTP API for tests,
// in the spirit of net/http/httptest.
//
// A Provider enforces a hidden limit (TokenBucket, FixedWindow or
// LeakyBucket), reports it in a chosen Dialect the way a real provider does
// (bare 429s, Retry-After in seconds or as a date, GitHub, OpenAI, the IETF
// RateLimit fields, Shopify, nginx's 503, Stripe with its Idempotency-Key
// replays), can play GitHub's secondary limit (SecondaryLimit: too many
// requests at once or too fast, in the 403 and 429 forms) and its ETag/304
// conditional requests (Options.ETags), and injects Faults: 5xx errors,
// latency, connection resets, hangs and lost responses, drawn from a seeded
// sequence. It counts what it accepted and rejected, the most it accepted in
// any window (MaxAccepted) and the non-idempotent requests it was made to
// perform twice (Stats.Duplicates), so a test can check that a client stayed
// within the limit, was never refused, and never charged twice.
//
// Start one on loopback with NewServer:
//
//	srv := sluicetest.NewServer(sluicetest.Options{
//		Limit:   sluicetest.TokenBucket(50, 10),
//		Dialect: sluicetest.DialectIETF,
//	})
//	defer srv.Close()
//	// ... run the client under test against srv.URL ...
//	if st := srv.Stats(); st.Rejected > 0 || st.Duplicates > 0 { ... }
//
// A Provider is also an http.Handler, to mount on a server of your own, and
// an http.RoundTripper that serves requests in memory. The in-memory form
// works inside a testing/synctest bubble, where the fake clock stands still
// while any goroutine waits on real network I/O:
//
//	synctest.Test(t, func(t *testing.T) {
//		p := sluicetest.NewProvider(opts)
//		defer p.Close()
//		client := &http.Client{Transport: p}
//		...
//	})
//
// Every accepted request gets a 200 with a small JSON body, or whatever
// Options.Handler writes. Every response carries a Date header from the
// provider's clock (Options.Now), so absolute resets can be read against it.
// Each request costs one unit of Options.Limit and the number of tokens in
// its X-Sluicetest-Cost header (default 1) of Options.TokenLimit.
package sluicetest
