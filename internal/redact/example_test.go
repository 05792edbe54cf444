package redact_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"

	"github.com/sluicehq/sluice/internal/redact"
)

func ExampleURL() {
	u, _ := url.Parse("https://user:hunter2@api.example.com/v1/search?q=go&api_key=sk-123")
	fmt.Println(redact.URL(u))
	// Output: https://user:REDACTED@api.example.com/v1/search?q=go&api_key=REDACTED
}

func ExampleHeader() {
	h := http.Header{}
	h.Set("Authorization", "Bearer sk-123")
	h.Set("X-Api-Key", "k-456")
	h.Set("Accept", "application/json")
	r := redact.Header(h)
	fmt.Println(r.Get("Authorization"))
	fmt.Println(r.Get("X-Api-Key"))
	fmt.Println(r.Get("Accept"))
	// Output:
	// Bearer REDACTED
	// REDACTED
	// application/json
}

func ExampleReplaceAttr() {
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output stable
			}
			return redact.ReplaceAttr(groups, a)
		},
	}))
	u, _ := url.Parse("https://api.example.com/v1/x?token=t-789")
	log.Info("cache_hit", "url", u, "x-api-key", "k-456", "tokens_remaining", 42)
	// Output: level=INFO msg=cache_hit url="https://api.example.com/v1/x?token=REDACTED" x-api-key=REDACTED tokens_remaining=42
}
