package circuit

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestOnStateChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		var b *Breaker
		b, err := New("api", Settings{
			ConsecutiveFailures: 1,
			OpenTimeout:         time.Second,
			OnStateChange: func(name string, from, to State) {
				// Calling back into the breaker must not deadlock.
				got = append(got, name+":"+from.String()+">"+to.String()+"@"+b.State().String())
				_ = b.Counts()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		run(t, b, Failure)
		time.Sleep(2 * time.Second)
		b.State()
		b.State()
		run(t, b, Failure)
		time.Sleep(2 * time.Second)
		run(t, b, Success)
		want := []string{
			"api:closed>open@open",
			"api:open>half-open@half-open",
			"api:half-open>open@open",
			"api:open>half-open@half-open",
			"api:half-open>closed@closed",
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("transitions:\n got %q\nwant %q", got, want)
		}
	})
}

func TestOnStateChangeConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		calls := map[string]int{}
		b, err := New("api", Settings{
			ConsecutiveFailures: 3,
			OnStateChange: func(_ string, from, to State) {
				mu.Lock()
				calls[from.String()+">"+to.String()]++
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				if done, err := b.Allow(); err == nil {
					done(Failure)
				}
			})
		}
		wg.Wait()
		wantState(t, b, Open)
		if len(calls) != 1 || calls["closed>open"] != 1 {
			t.Fatalf("calls = %v, want one closed>open", calls)
		}
	})
}

func TestOnStateChangePanicDoesNotStopLaterCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		b := mustNew(t, Settings{ConsecutiveFailures: 1, OpenTimeout: time.Second,
			OnStateChange: func(string, State, State) {
				n++
				if n == 1 {
					panic("boom")
				}
			}})
		func() {
			defer func() { _ = recover() }()
			run(t, b, Failure)
		}()
		time.Sleep(2 * time.Second)
		wantState(t, b, HalfOpen)
		if n != 2 {
			t.Fatalf("OnStateChange called %d times, want 2", n)
		}
	})
}
