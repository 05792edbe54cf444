package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/proxy"
)

// A provider mounted on /api with its key injected by the proxy: the
// client sends only its proxy token, and the provider sees only its key.
func Example() {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s key=%q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer provider.Close()

	env := map[string]string{"WORKER_TOKEN": "tok-worker", "PROVIDER_KEY": "sk-live-123"}
	h, err := proxy.New(proxy.Config{
		Consumers: []proxy.Consumer{{Name: "worker", TokenEnv: "WORKER_TOKEN"}},
		Upstreams: []proxy.Upstream{{Name: "provider", Prefix: "/api", Target: provider.URL,
			Credential: &proxy.Credential{Env: "PROVIDER_KEY"},
			Allow:      []string{"loopback"}}}, // the test provider is on loopback; real ones are public
		Getenv: func(k string) string { return env[k] },
		Pipeline: sluice.Config{Routes: []sluice.Route{{Name: "provider", Match: sluice.Match{Host: "127.0.0.1"},
			Policy: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "50/s", Burst: 10}}}}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	front := httptest.NewServer(h)
	defer front.Close()

	for _, token := range []string{"tok-worker", "wrong"} {
		req, _ := http.NewRequest("GET", front.URL+"/api/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.SplitN(string(b), "\n", 2)[0])
	}
	// Output:
	// 200 GET /v1/models key="Bearer sk-live-123"
	// 401 {"type":"https://github.com/sluicehq/sluice/blob/main/docs/proxy.md#unauthenticated","title":"Unauthorized","status":401,"detail":"send the proxy token as Authorization: Bearer \u003ctoken\u003e","reason":"unauthenticated"}
}
