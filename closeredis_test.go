package sluice

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestCloseBoundedWithStuckRedisClient: with a caller-supplied go-redis
// client that has no timeouts, against a Redis that accepts connections and
// never answers, Close returned only when the stuck calls ended (3-6 s seen
// in issue 11). Now it waits at most twice the Redis timeout (at least
// 100ms). It fails before the fix (Close blocks until the client is closed).
func TestCloseBoundedWithStuckRedisClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ReadTimeout: -1, WriteTimeout: -1, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() {
		client.Close()
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	tr, err := NewTransport(Config{
		Redis:  &RedisConfig{Client: client, Timeout: 20 * time.Millisecond, OnFailure: "allow"},
		Routes: []Route{{Name: "api", Policy: Policy{Limits: []LimitConfig{{Rate: "100/s", Shared: true}}}}},
	}, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://api.test/x", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("on_failure allow: %v", err)
	}
	resp.Body.Close()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		tr.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked on a stuck Redis call for 2s")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
}
