package httpcache

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func bodyOf(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

// trackedBody is a body that records whether it was closed.
type trackedBody struct {
	io.Reader
	closed bool
}

func (b *trackedBody) Close() error { b.closed = true; return nil }

func respWith(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: header, Body: bodyOf(body), ContentLength: -1}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestStorable(t *testing.T) {
	tests := []struct {
		name   string
		status int
		h      http.Header
		want   bool
	}{
		{"200", 200, nil, true},
		{"203", 203, nil, true},
		{"204", 204, nil, true},
		{"301", 301, nil, true},
		{"404", 404, nil, true},
		{"410", 410, nil, true},
		{"206 partial", 206, nil, false},
		{"201", 201, nil, false},
		{"302", 302, nil, false},
		{"429", 429, nil, false},
		{"500", 500, nil, false},
		{"503", 503, nil, false},
		{"no-store", 200, hdr("Cache-Control", "max-age=60, No-Store"), false},
		{"no-cache", 200, hdr("Cache-Control", "no-cache"), false},
		{"private is fine", 200, hdr("Cache-Control", "private, max-age=60"), true},
		{"set-cookie", 200, hdr("Set-Cookie", "s=1"), false},
		{"vary star", 200, hdr("Vary", "*"), false},
		{"vary accept", 200, hdr("Vary", "Accept"), true},
	}
	for _, tt := range tests {
		if got := Storable(respWith(tt.status, tt.h, "")); got != tt.want {
			t.Errorf("%s: Storable = %v, want %v", tt.name, got, tt.want)
		}
	}
	if Storable(nil) {
		t.Error("Storable(nil)")
	}
}

func TestSnapshotLifetime(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		ttl  time.Duration
		want time.Duration // 0: not kept
	}{
		{"ttl only", nil, time.Minute, time.Minute},
		{"max-age lower", hdr("Cache-Control", "max-age=10"), time.Minute, 10 * time.Second},
		{"max-age higher", hdr("Cache-Control", "public, max-age=3600"), time.Minute, time.Minute},
		{"quoted max-age", hdr("Cache-Control", `max-age="5"`), time.Minute, 5 * time.Second},
		{"max-age minus Age", hdr("Cache-Control", "max-age=10", "Age", "4"), time.Minute, 6 * time.Second},
		{"Age past max-age", hdr("Cache-Control", "max-age=10", "Age", "11"), time.Minute, 0},
		{"max-age 0", hdr("Cache-Control", "max-age=0"), time.Minute, 0},
		{"invalid max-age", hdr("Cache-Control", "max-age=soon"), time.Minute, 0},
		{"negative max-age", hdr("Cache-Control", "max-age=-1"), time.Minute, 0},
		{"no-store", hdr("Cache-Control", "no-store"), time.Minute, 0},
		{"zero ttl", nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, r, err := Snapshot(respWith(200, tt.h, "hello"), tt.ttl, now, 100)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := io.ReadAll(r.Body); string(got) != "hello" {
				t.Fatalf("replacement body = %q, want hello", got)
			}
			switch {
			case tt.want == 0 && e != nil:
				t.Fatalf("entry kept, expiring %v", e.Expires())
			case tt.want != 0 && (e == nil || e.Expires() != now.Add(tt.want)):
				t.Fatalf("entry %v, want expiry in %v", e, tt.want)
			}
		})
	}
}

func TestSnapshotLargeBody(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000) // 10000 bytes
	for _, max := range []int64{0, 1, 9999} {
		orig := &trackedBody{Reader: bytes.NewReader(data)}
		resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: orig, ContentLength: 10000}
		e, r, err := Snapshot(resp, time.Minute, time.Now(), max)
		if err != nil || e != nil {
			t.Fatalf("max %d: entry %v, err %v; want no entry", max, e, err)
		}
		got, _ := io.ReadAll(r.Body)
		if !bytes.Equal(got, data) {
			t.Fatalf("max %d: read %d bytes back, want all %d", max, len(got), len(data))
		}
		if r.ContentLength != 10000 {
			t.Errorf("ContentLength = %d", r.ContentLength)
		}
		r.Body.Close()
		if !orig.closed {
			t.Errorf("max %d: closing the replacement did not close the original body", max)
		}
	}
	// Exactly at the bound it is kept, and the original is closed.
	orig := &trackedBody{Reader: bytes.NewReader(data)}
	e, r, err := Snapshot(&http.Response{StatusCode: 200, Header: http.Header{}, Body: orig}, time.Minute, time.Now(), 10000)
	if err != nil || e == nil || !orig.closed {
		t.Fatalf("at the bound: entry %v err %v closed %v", e, err, orig.closed)
	}
	if got, _ := io.ReadAll(r.Body); !bytes.Equal(got, data) || !bytes.Equal(e.Body(), data) || r.ContentLength != 10000 {
		t.Fatal("at the bound: body lost")
	}
}

func TestSnapshotReadError(t *testing.T) {
	boom := errors.New("connection reset")
	body := &trackedBody{Reader: io.MultiReader(strings.NewReader("part"), errReader{boom})}
	e, r, err := Snapshot(&http.Response{StatusCode: 200, Header: http.Header{}, Body: body}, time.Minute, time.Now(), 100)
	if e != nil || !errors.Is(err, boom) {
		t.Fatalf("entry %v err %v, want nil and the read error", e, err)
	}
	got, rerr := io.ReadAll(r.Body)
	if string(got) != "part" || !errors.Is(rerr, boom) {
		t.Fatalf("replay = %q, %v; want the bytes read, then the error", got, rerr)
	}
	r.Body.Close()
	if !body.closed {
		t.Error("original body not closed")
	}
}

func TestSnapshotNoBody(t *testing.T) {
	for _, b := range []io.ReadCloser{nil, http.NoBody} {
		e, r, err := Snapshot(&http.Response{StatusCode: 204, Header: http.Header{}, Body: b}, time.Minute, time.Now(), 10)
		if err != nil || e == nil || r.Body != http.NoBody || len(e.Body()) != 0 {
			t.Fatalf("body %v: entry %v err %v", b, e, err)
		}
	}
	if _, _, err := Snapshot(nil, time.Minute, time.Now(), 10); err == nil {
		t.Fatal("Snapshot(nil) gave no error")
	}
}

func TestEntryResponse(t *testing.T) {
	stored := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := hdr("Content-Type", "application/json", "Age", "3", "Cache-Control", "max-age=100")
	e, _, err := Snapshot(respWith(200, h, `{"a":1}`), time.Minute, stored, 100)
	if err != nil || e == nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "https://api.example.com/a", nil)
	r1 := e.ResponseAt(req, stored.Add(10*time.Second))
	r2 := e.StaleResponseAt(req, stored.Add(90*time.Second))
	r1.Header.Set("Content-Type", "changed") // must not reach the entry or r2
	b1, _ := io.ReadAll(r1.Body)
	b2, _ := io.ReadAll(r2.Body)
	checks := []struct{ name, got, want string }{
		{"body 1", string(b1), `{"a":1}`},
		{"body 2", string(b2), `{"a":1}`},
		{"age 1", r1.Header.Get("Age"), "13"},
		{"age 2", r2.Header.Get("Age"), "93"},
		{"cache 1", r1.Header.Get(CacheHeader), "hit"},
		{"cache 2", r2.Header.Get(CacheHeader), "stale"},
		{"warning 1", r1.Header.Get("Warning"), ""},
		{"warning 2", r2.Header.Get("Warning"), `110 - "Response is Stale"`},
		{"header copy", r2.Header.Get("Content-Type"), "application/json"},
		{"entry header", e.Header().Get("Content-Type"), "application/json"},
		{"status", r1.Status, "OK"},
		{"proto", r1.Proto, "HTTP/1.1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r1.Request != req || r1.StatusCode != 200 || r1.ContentLength != 7 {
		t.Errorf("Request %p (want %p), status %d, length %d", r1.Request, req, r1.StatusCode, r1.ContentLength)
	}
	if r := e.Response(req); r.Header.Get(CacheHeader) != "hit" {
		t.Error("Response does not mark a hit")
	}
	if r := e.StaleResponse(req); r.Header.Get("Warning") == "" {
		t.Error("StaleResponse not marked stale")
	}
}
