package sluice

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/sluicetest"
)

// echoed is what the test handler sends back about the request it got.
type echoed struct {
	Method, Path, Query, Auth, APIKey, UA, Idem, Type, Body string
}

func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body = make([]byte, 1024)
			n, _ := r.Body.Read(body)
			body = body[:n]
		}
		e := echoed{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"),
			r.Header.Get("User-Agent"), r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type"), string(body)}
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
		json.NewEncoder(w).Encode(e)
	})
}

func TestClientRequests(t *testing.T) {
	tests := []struct {
		name  string
		opts  []Option
		call  func(ctx context.Context, c *Client) (*Response, error)
		check func(e echoed) bool
	}{
		{"base URL and query", []Option{WithBaseURL("https://api.example.com/v2")},
			func(ctx context.Context, c *Client) (*Response, error) {
				return c.Get(ctx, "/repos/a/b", url.Values{"page": {"2"}, "q": {"x y"}})
			},
			func(e echoed) bool { return e.Path == "/v2/repos/a/b" && e.Query == "page=2&q=x+y" }},
		{"bearer", []Option{WithBaseURL("https://api.example.com"), WithBearerToken("tok")},
			func(ctx context.Context, c *Client) (*Response, error) { return c.Get(ctx, "x", nil) },
			func(e echoed) bool { return e.Auth == "Bearer tok" }},
		{"token func", []Option{WithBaseURL("https://api.example.com"), WithTokenFunc(func(context.Context) (string, error) { return "fresh", nil })},
			func(ctx context.Context, c *Client) (*Response, error) { return c.Get(ctx, "x", nil) },
			func(e echoed) bool { return e.Auth == "Bearer fresh" }},
		{"api key", []Option{WithBaseURL("https://api.example.com"), WithAPIKey("X-Api-Key", "k")},
			func(ctx context.Context, c *Client) (*Response, error) { return c.Get(ctx, "x", nil) },
			func(e echoed) bool { return e.APIKey == "k" }},
		{"basic", []Option{WithBaseURL("https://api.example.com"), WithBasicAuth("u", "p")},
			func(ctx context.Context, c *Client) (*Response, error) { return c.Get(ctx, "x", nil) },
			func(e echoed) bool { return e.Auth == "Basic dTpw" }},
		{"user agent", []Option{WithBaseURL("https://api.example.com"), WithUserAgent("app/1.0")},
			func(ctx context.Context, c *Client) (*Response, error) { return c.Get(ctx, "x", nil) },
			func(e echoed) bool { return e.UA == "app/1.0" }},
		{"json body", []Option{WithBaseURL("https://api.example.com")},
			func(ctx context.Context, c *Client) (*Response, error) {
				return c.Post(ctx, "items", map[string]int{"n": 1})
			},
			func(e echoed) bool {
				return e.Method == "POST" && e.Type == "application/json" && e.Body == `{"n":1}` && e.Idem == ""
			}},
		{"idempotency keys", []Option{WithBaseURL("https://api.example.com"), WithIdempotencyKeys()},
			func(ctx context.Context, c *Client) (*Response, error) { return c.Patch(ctx, "items/1", "raw") },
			func(e echoed) bool { return e.Method == "PATCH" && len(e.Idem) == 32 && e.Body == "raw" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := sluicetest.NewProvider(sluicetest.Options{Handler: echoHandler()})
				defer p.Close()
				c, err := NewClient(Config{}, append(tt.opts, WithBaseTransport(p))...)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				resp, err := tt.call(context.Background(), c)
				if err != nil {
					t.Fatal(err)
				}
				var e echoed
				if err := resp.JSON(&e); err != nil {
					t.Fatal(err)
				}
				if !tt.check(e) {
					t.Fatalf("server saw %+v", e)
				}
				if resp.Attempts != 1 {
					t.Fatalf("Attempts = %d, want 1", resp.Attempts)
				}
			})
		})
	}
}

func TestClientStatusErrorAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := sluicetest.NewProvider(sluicetest.Options{Handler: echoHandler()})
		defer p.Close()
		c, err := NewClient(Config{}, WithBaseURL("https://api.example.com"), WithBaseTransport(p))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Get(context.Background(), "missing", nil)
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != 404 || resp == nil || resp.StatusCode != 404 {
			t.Fatalf("got %v, %v; want the 404 Response and a *StatusError", resp, err)
		}
		c.Close()
		if _, err := c.Get(context.Background(), "x", nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v, want ErrClosed", err)
		}
	})
}

func TestClientFromCacheAndAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := sluicetest.NewProvider(sluicetest.Options{Faults: sluicetest.Faults{ErrorRatio: 0, Seed: 1}})
		defer p.Close()
		cfg := Config{Defaults: Policy{Cache: &CacheConfig{TTL: time.Minute}}}
		c, err := NewClient(cfg, WithBaseURL("https://api.example.com"), WithBaseTransport(p))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		first, err := c.Get(context.Background(), "thing", nil)
		if err != nil || first.FromCache {
			t.Fatalf("first: %+v %v", first, err)
		}
		second, err := c.Get(context.Background(), "thing", nil)
		if err != nil || !second.FromCache || second.Attempts != 0 || string(second.Body) != string(first.Body) {
			t.Fatalf("second: FromCache=%v Attempts=%d err=%v", second.FromCache, second.Attempts, err)
		}
	})
}

func TestClientNoDoubleCharge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A third of the responses are lost after the provider acted: only
		// requests with an Idempotency-Key may be re-sent.
		p := sluicetest.NewProvider(sluicetest.Options{Faults: sluicetest.Faults{LostRatio: 0.3, Seed: 3}})
		defer p.Close()
		for _, idem := range []bool{false, true} {
			p.Reset()
			opts := []Option{WithBaseURL("https://api.example.com"), WithBaseTransport(p)}
			if idem {
				opts = append(opts, WithIdempotencyKeys())
			}
			c, err := NewClient(Config{Defaults: Policy{Circuit: &CircuitConfig{Disabled: true}, Retry: &RetryConfig{MaxAttempts: 6}}}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			var failed int
			for i := range 50 {
				if _, err := c.Post(context.Background(), "charges", map[string]int{"amount": i}); err != nil {
					failed++
				}
			}
			c.Close()
			st := p.Stats()
			// Without a key a re-sent POST would be a double charge; with
			// one, re-sending is safe (the provider dedupes by key).
			if !idem && st.Duplicates != 0 {
				t.Fatalf("without idempotency keys the provider performed %d requests twice", st.Duplicates)
			}
			if idem && failed > 2 {
				t.Fatalf("with idempotency keys %d of 50 POSTs still failed", failed)
			}
			if !idem && failed == 0 {
				t.Fatal("without keys lost responses must surface as errors, not retries")
			}
		}
	})
}
