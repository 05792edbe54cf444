package main

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// The provider's true limit, the same in every dialect: 50 requests a second
// with a burst of 10.
const (
	trueRate  = 50
	trueBurst = 10
)

// defaultDialects are the dialects issue 5 asks for.
var defaultDialects = []string{"none", "retry-after", "github", "openai", "ietf", "shopify"}

// dialectSpec is one simulated provider.
type dialectSpec struct {
	// name is the dialect's name as sluicetest prints it.
	name string
	// options configure the provider.
	options sluicetest.Options
	// quotaHeaders reports whether the dialect states the quota on every
	// response; if not, a client must find the rate from throttles.
	quotaHeaders bool
}

// dialectFor returns the provider for a dialect name ("plain" means none):
// github enforces a fixed window of 50 per second, shopify a leaky bucket of
// capacity 10 draining 50 a second, the others a token bucket of 50/s with
// burst 10.
func dialectFor(name string) (dialectSpec, error) {
	d, err := sluicetest.ParseDialect(name)
	if err != nil {
		return dialectSpec{}, fmt.Errorf("dialect %q: %w", name, err)
	}
	spec := dialectSpec{
		name: d.String(),
		options: sluicetest.Options{
			Dialect: d,
			Limit:   sluicetest.TokenBucket(trueRate, trueBurst),
			Now:     wallClock,
		},
	}
	switch d {
	case sluicetest.DialectGitHub:
		spec.options.Limit = sluicetest.FixedWindow(trueRate, windowLength)
		spec.quotaHeaders = true
	case sluicetest.DialectShopify:
		spec.options.Limit = sluicetest.LeakyBucket(trueBurst, trueRate)
		spec.quotaHeaders = true
	case sluicetest.DialectOpenAI, sluicetest.DialectIETF:
		spec.quotaHeaders = true
	}
	return spec, nil
}

// wallClock is time.Now without its monotonic reading. The provider derives
// epoch-aligned windows from the wall clock (UnixNano) but, with time.Now,
// compares and subtracts instants by their monotonic readings; the two
// readings of one time.Now call differ by some nanoseconds from call to call,
// which made the fixed window restart its count within a window (accepting
// over 100 requests in a second) and made GitHub's x-ratelimit-reset, rounded
// up to a whole second, name the second after the true reset about half the
// time. On the wall clock alone both are exact.
func wallClock() time.Time { return time.Now().Round(0) }
