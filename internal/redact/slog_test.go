package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestReplaceAttr(t *testing.T) {
	const secret = "s3cr3t"
	u, _ := url.Parse("https://api.example.com/x?api_key=" + secret)
	req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	h := http.Header{"Authorization": {"Bearer " + secret}, "Accept": {"*/*"}}
	urlErr := &url.Error{Op: "Get", URL: u.String(), Err: errors.New("refused")}

	tests := []struct {
		name string
		attr slog.Attr
		want string // substring the line must contain
	}{
		{"secret key string", slog.String("api_key", secret), "api_key=REDACTED"},
		{"authorization keeps scheme", slog.String("authorization", "Bearer "+secret), `authorization="Bearer REDACTED"`},
		{"url in string", slog.String("msg2", "GET "+u.String()), "api_key=REDACTED"},
		{"*url.URL", slog.Any("url", u), `url="https://api.example.com/x?api_key=REDACTED"`},
		{"url.URL", slog.Any("url", *u), `url="https://api.example.com/x?api_key=REDACTED"`},
		{"header", slog.Any("h", h), `h.Authorization="Bearer REDACTED"`},
		{"request", slog.Any("req", req), `req="GET https://api.example.com/x?api_key=REDACTED"`},
		{"error", slog.Any("err", urlErr), "api_key=REDACTED"},
		{"number kept", slog.Int("tokens_remaining", 42), "tokens_remaining=42"},
		{"duration kept", slog.Duration("token_wait", time.Second), "token_wait=1s"},
		{"plain string kept", slog.String("route", "github"), "route=github"},
		{"group", slog.Group("g", slog.String("x-api-key", secret)), "g.x-api-key=REDACTED"},
		{"level as the handlers print it", slog.Any("lvl", slog.LevelWarn+1), "lvl=WARN+1"},
	}
	var memo KeyMemo // shared by the cases, so the second pass reads remembered keys
	for _, ra := range []struct {
		name string
		fn   func([]string, slog.Attr) slog.Attr
	}{{"ReplaceAttr", ReplaceAttr}, {"KeyMemo", memo.ReplaceAttr}, {"KeyMemo again", memo.ReplaceAttr}} {
		for _, tt := range tests {
			t.Run(ra.name+"/"+tt.name, func(t *testing.T) {
				var buf bytes.Buffer
				log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: ra.fn}))
				log.Info("event", tt.attr)
				line := buf.String()
				if strings.Contains(line, secret) {
					t.Fatalf("log line leaks the secret: %s", line)
				}
				if !strings.Contains(line, tt.want) {
					t.Fatalf("log line %q does not contain %q", line, tt.want)
				}
			})
		}
	}
}

// TestLevelUnchanged: a handler with ReplaceAttr prints the record's level
// as one without it does.
func TestLevelUnchanged(t *testing.T) {
	for _, lvl := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn + 2, slog.LevelError} {
		var plain, red bytes.Buffer
		slog.New(slog.NewJSONHandler(&plain, nil)).Log(context.Background(), lvl, "m")
		slog.New(slog.NewJSONHandler(&red, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: ReplaceAttr})).Log(context.Background(), lvl, "m")
		strip := func(s string) string { return s[strings.Index(s, `"level"`):] } // drop the time
		if lvl >= slog.LevelInfo && strip(plain.String()) != strip(red.String()) {
			t.Errorf("level %v: %s, want %s", lvl, red.String(), plain.String())
		}
		if !strings.Contains(red.String(), `"level":"`+lvl.String()+`"`) {
			t.Errorf("level %v: %s", lvl, red.String())
		}
	}
}

// TestKeyMemoBounded: past 256 keys decisions are no longer kept, and
// still right.
func TestKeyMemoBounded(t *testing.T) {
	var m KeyMemo
	for i := range 300 {
		m.ReplaceAttr(nil, slog.String(fmt.Sprintf("k%d", i), "v"))
	}
	if a := m.ReplaceAttr(nil, slog.String("x-api-key", "s3cr3t")); a.Value.String() != Redacted {
		t.Fatalf("x-api-key after 300 keys: %q", a.Value.String())
	}
	n := 0
	m.secret.Range(func(any, any) bool { n++; return true })
	if n > 256 {
		t.Fatalf("%d keys kept, want at most 256", n)
	}
}

func TestHeaderAttr(t *testing.T) {
	a := HeaderAttr("headers", http.Header{
		"X-Api-Key": {"k1"},
		"Accept":    {"a", "b"},
	})
	if got, want := a.String(), "headers=[Accept=a, b X-Api-Key=REDACTED]"; got != want {
		t.Errorf("HeaderAttr() = %q, want %q", got, want)
	}
}

func TestErrorAttr(t *testing.T) {
	if got := ErrorAttr("err", nil).Value.String(); got != "" {
		t.Errorf("ErrorAttr(nil) = %q, want empty", got)
	}
	err := errors.New(`Get "http://h/?token=abc": EOF`)
	if got, want := ErrorAttr("err", err).Value.String(), `Get "http://h/?token=REDACTED": EOF`; got != want {
		t.Errorf("ErrorAttr() = %q, want %q", got, want)
	}
}

func BenchmarkHeader(b *testing.B) {
	h := http.Header{
		"Authorization": {"Bearer abc"},
		"Accept":        {"application/json"},
		"User-Agent":    {"sluice"},
	}
	for b.Loop() {
		Header(h)
	}
}
