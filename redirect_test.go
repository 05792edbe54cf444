package sluice

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestClientKeepsCredentialsOnOrigin is the regression test of defect 3
// (issue 11): Client.WithAPIKey's header rode along on a redirect to
// another host (http.Client strips only Authorization and Cookie there).
// Now no credential the Client sets leaves the origin; a same-origin
// redirect keeps them. It fails before the fix (the other host saw the key).
func TestClientKeepsCredentialsOnOrigin(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]http.Header{}
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[name+r.URL.Path] = r.Header.Clone()
			mu.Unlock()
			w.Write([]byte(`{}`))
		}
	}
	other := httptest.NewServer(record("other"))
	defer other.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/landed", http.StatusFound)
		case "/home":
			http.Redirect(w, r, "/landed", http.StatusFound)
		default:
			record("origin")(w, r)
		}
	}))
	defer origin.Close()
	for _, auth := range []Option{WithAPIKey("X-Custom-Key", "k-secret"), WithBearerToken("t-secret"), WithBasicAuth("u", "p-secret")} {
		cfg := Config{Defaults: Policy{CredentialHeaders: []string{"X-Tenant"}}}
		c, err := NewClient(cfg, WithBaseURL(origin.URL), auth, WithHeader("X-Tenant", "acme"), WithHeader("Accept", "application/json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"away", "home"} {
			if _, err := c.Get(t.Context(), path, nil); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		mu.Lock()
		away, home := seen["other/landed"], seen["origin/landed"]
		mu.Unlock()
		for _, h := range []string{"X-Custom-Key", "Authorization", "X-Tenant"} {
			if v := away.Get(h); v != "" {
				t.Errorf("redirect to another host carried %s: %q", h, v)
			}
		}
		if away.Get("Accept") == "" {
			t.Error("redirect to another host lost a plain header")
		}
		if home.Get("X-Custom-Key") == "" && home.Get("Authorization") == "" {
			t.Error("same-origin redirect lost the credential")
		}
	}
}
