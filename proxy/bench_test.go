package proxy

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/redact"
)

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Flush()                      {}

// BenchmarkBaseURL is one base-URL request through the full pipeline (a
// route limit far above the load, quota learning, retries, breaker) to a
// loopback upstream answering 64 bytes. The handler is called directly, so
// the figures are the proxy's, the upstream client's and the upstream
// server's; allocs/op is the number to watch.
func BenchmarkBaseURL(b *testing.B) {
	for _, bc := range []struct {
		name      string
		accessLog bool
	}{{"access_log", true}, {"no_access_log", false}} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(`{"ok":true,"pad":"0123456789012345678901234567890123456789"}` + "\n")
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write(body)
			}))
			defer up.Close()
			_, port, _ := net.SplitHostPort(up.Listener.Addr().String())
			on := bc.accessLog
			h, err := New(Config{
				Upstreams:       []Upstream{{Name: "up", Prefix: "/up", Target: "http://127.0.0.1:" + port, Allow: []string{"loopback"}}},
				Consumers:       []Consumer{{Name: "bench", TokenEnv: "ALICE"}},
				Getenv:          func(k string) string { return testEnv[k] },
				AccessLog:       &on,
				AccessLogWriter: io.Discard, // as sluice proxy writes it
				Logger:          slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{ReplaceAttr: redact.ReplaceAttr})),
				Pipeline: sluice.Config{Routes: []sluice.Route{{Name: "up", Match: sluice.Match{Host: "127.0.0.1"},
					Policy: sluice.Policy{Limits: []sluice.LimitConfig{{Rate: "1000000/s", Burst: 100000}}}}}},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/up/x?q=1", nil)
				req.Header.Set("Authorization", "Bearer "+aliceToken)
				req.Header.Set("Accept", "application/json")
				req.Header.Set("User-Agent", "bench")
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}
