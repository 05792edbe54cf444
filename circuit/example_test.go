package circuit_test

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/circuit"
)

func Example() {
	b, err := circuit.New("github", circuit.Settings{
		ConsecutiveFailures: 3,
		OnStateChange: func(name string, from, to circuit.State) {
			fmt.Printf("%s: %v -> %v\n", name, from, to)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		done, err := b.Allow()
		if err != nil {
			fmt.Println(err)
			return
		}
		done(circuit.Failure) // e.g. a 503 or a connection reset
	}
	_, err = b.Allow()
	fmt.Println(errors.Is(err, circuit.ErrOpen))
	fmt.Println(err)
	// Output:
	// github: closed -> open
	// true
	// circuit: breaker "github" is open: requests fail fast for up to 30s before a probe is let through
}

func ExampleBreaker_Allow() {
	b, _ := circuit.New("search", circuit.Settings{})
	done, err := b.Allow()
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	// A 429 says nothing about the upstream's health.
	done(circuit.Neutral)
	fmt.Println(b.State(), b.Counts().Neutral)
	// Output:
	// closed 1
}
