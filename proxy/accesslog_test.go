package proxy

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// TestAccessLineMatchesSlog checks that a record written by accessLine
// decodes to the same keys and values as the one slog's JSONHandler writes
// for the same request, time aside.
func TestAccessLineMatchesSlog(t *testing.T) {
	u, _ := url.Parse("http://api.test/v1/x?q=1&api_key=secret")
	tests := []*entry{
		{mode: "base", consumer: "alice", upstream: "github", status: 200, url: u, bytes: 61},
		{mode: "forward", consumer: `we"ird\name<&>` + "\n\t\x01", status: 403, reason: "destination_refused"},
		{mode: "connect", consumer: "bad utf8 \xff\xfe and \u2028", upstream: "ünïcode", status: 499, reason: "client_gone"},
	}
	for _, e := range tests {
		var viaSlog, direct bytes.Buffer
		h := &Handler{log: slog.New(slog.NewJSONHandler(&viaSlog, nil)), accessLog: true, met: newMeter(Config{})}
		r := httptest.NewRequest("PATCH", "/x", nil)
		h.record(r, e, 1234567*time.Nanosecond)
		h.cfg.AccessLogWriter = &direct
		h.record(r, e, 1234567*time.Nanosecond)
		var a, b map[string]any
		if err := json.Unmarshal(viaSlog.Bytes(), &a); err != nil {
			t.Fatalf("slog line %q: %v", viaSlog.String(), err)
		}
		if err := json.Unmarshal(direct.Bytes(), &b); err != nil {
			t.Fatalf("direct line %q: %v", direct.String(), err)
		}
		ta, tb := a["time"].(string), b["time"].(string)
		if _, err := time.Parse(time.RFC3339Nano, tb); err != nil || ta == "" {
			t.Errorf("time %q; slog writes %q", tb, ta)
		}
		delete(a, "time")
		delete(b, "time")
		if !reflect.DeepEqual(a, b) {
			t.Errorf("direct %v\nslog   %v", b, a)
		}
		if bytes.Contains(direct.Bytes(), []byte("secret")) {
			t.Errorf("the query's secret reached the log: %s", direct.String())
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\`, "\x00\x1f\x7f", "<&>", "\xff", "\u2028\u2029", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q gives invalid JSON %s: %v", s, b, err)
		}
		want := s
		if !utf8.ValidString(s) {
			want = string([]rune(s)) // invalid bytes become U+FFFD, as in encoding/json
		}
		if got != want {
			t.Fatalf("%q round-trips to %q", s, got)
		}
		if std, _ := json.Marshal(s); !bytes.Equal(std, b) {
			t.Fatalf("%q: %s; encoding/json writes %s", s, b, std)
		}
	})
}

func BenchmarkAccessLine(b *testing.B) {
	u, _ := url.Parse("http://127.0.0.1:9000/x?q=1")
	e := &entry{mode: "base", consumer: "bench", upstream: "up", status: 200, url: u, bytes: 61}
	r := httptest.NewRequest("GET", "/up/x?q=1", nil)
	for _, bc := range []struct {
		name   string
		direct bool
	}{{"slog", false}, {"direct", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var sink bytes.Buffer
			h := &Handler{log: slog.New(slog.NewJSONHandler(&sink, nil)), accessLog: true, met: newMeter(Config{})}
			if bc.direct {
				h.cfg.AccessLogWriter = &sink
			}
			b.ReportAllocs()
			for b.Loop() {
				sink.Reset()
				h.record(r, e, time.Millisecond)
			}
		})
	}
}
