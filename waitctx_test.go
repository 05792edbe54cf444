package sluice

import (
	"context"
	"errors"
	"testing"
)

// TestWaitContext: a request's wait context ends with the request's
// context, or with ErrClosed as its cause when the Transport closes, and
// stays usable after release.
func TestWaitContext(t *testing.T) {
	tr, err := NewTransport(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w1, release1 := tr.waitContext(ctx) // joins, then the request ends
	done1 := w1.Done()
	w2, release2 := tr.waitContext(context.Background()) // joins, then Close
	done2 := w2.Done()
	w3, release3 := tr.waitContext(context.Background()) // never joins
	if w3.Err() != nil || w1.Err() != nil {
		t.Fatal("a live wait context has an error")
	}
	cancel()
	<-done1
	if !errors.Is(w1.Err(), context.Canceled) || context.Cause(w1) != context.Canceled {
		t.Errorf("after the request ended: err %v cause %v", w1.Err(), context.Cause(w1))
	}
	tr.Close()
	<-done2
	if context.Cause(w2) != ErrClosed {
		t.Errorf("after Close: cause %v; want ErrClosed", context.Cause(w2))
	}
	release1()
	release2()
	release3()
	if w3.Done() != nil || w3.Err() != nil { // context.Background's
		t.Error("a released wait context that never joined changed")
	}
}
