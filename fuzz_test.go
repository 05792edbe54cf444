package sluice

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// FuzzConfigToTransport takes YAML all the way to a working Transport:
// whatever ParseConfig accepts, NewTransport must build (one validation
// path), and one request through it to a loopback server must return a
// response or an error matching a sluice sentinel or the context's error,
// within its deadline (100ms, and 2s of slack on a loaded machine), without a panic. A redis section is pointed at an
// in-process miniredis, so nothing dials off loopback.
//
//	go test -run '^$' -fuzz FuzzConfigToTransport -fuzztime 60s .
func FuzzConfigToTransport(f *testing.F) {
	if b, err := os.ReadFile("examples/sluice.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"defaults:\n  limits: [{rate: 10/s, burst: 3}]\n  retry: {max_attempts: 2, base_delay: 1ms}\n",
		"routes:\n- match: {host: 127.0.0.1}\n  cache: {ttl: 1s, vary: [Accept]}\n  credential_headers: [X-Tenant]\n",
		"routes:\n- limits: [{rate: '5/s,burst=2', weighted: true}]\n  cost: 2\n  coalesce: true\n",
		"redis: {addr: '127.0.0.1:6379', on_failure: deny}\nroutes:\n- limits: [{rate: 100/min, shared: true, strict: true}]\n",
		"redis: {addr: '127.0.0.1:6379', lease: 5}\ndefaults:\n  limits: [{rate: 1000/s, shared: true}]\n",
		"defaults:\n  circuit: {window: 10ms, failure_ratio: 0.5, half_open_probes: 3}\n  quota: {dialect: github}\nquota: {burst_fraction: 0.5, adaptive: {min_rate: 1}}\n",
		"routes:\n- match: {path: /v1/**, methods: [GET]}\n  concurrency: 1\n  timeout: 50ms\n  retry: {budget: {ratio: 0.5, ttl: 2s}}\n",
	} {
		f.Add([]byte(s))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Remaining", "10")
		w.Write([]byte("ok"))
	}))
	f.Cleanup(srv.Close)
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(mr.Close)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	f.Cleanup(func() { rc.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		if cfg.Redis != nil {
			cfg.Redis.Client = rc
		}
		tr, err := NewTransport(cfg, srv.Client().Transport)
		if err != nil {
			t.Fatalf("ParseConfig accepted a config NewTransport refuses: %v\n%s", err, data)
		}
		defer tr.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/x?page=1", nil)
		req.Header.Set("Accept", "text/plain")
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("request took %v with a 100ms deadline", d)
		}
		if err != nil {
			if !errors.Is(err, ErrRateLimited) && !errors.Is(err, ErrCircuitOpen) && !errors.Is(err, ErrRetriesExhausted) &&
				!errors.Is(err, ErrClosed) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("untyped error %v (%T)\n%s", err, err, data)
			}
			return
		}
		resp.Body.Close()
	})
}
