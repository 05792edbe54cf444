package httpcache

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func snapshot(t testing.TB, h http.Header, body string, now time.Time) *Entry {
	t.Helper()
	resp := &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Trailer: http.Header{"X-T": {"t"}}, Body: bodyOf(body)}
	e, _, err := Snapshot(resp, time.Hour, now, 1<<20)
	if err != nil || e == nil {
		t.Fatalf("Snapshot: %v, %v", e, err)
	}
	return e
}

func TestEntryMarshalRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		e    *Entry
	}{
		{"plain", snapshot(t, http.Header{"Etag": {`"v1"`}, "Cache-Control": {"max-age=60, stale-while-revalidate=30"}, "Age": {"5"}}, "hello", now)},
		{"empty body, must-revalidate, vary", snapshot(t, http.Header{"Cache-Control": {"must-revalidate"}, "Vary": {"Accept, Accept-Language"}, "Last-Modified": {"x"}}, "", now)},
		{"vary marker", &Entry{marker: []string{"Accept"}, header: http.Header{}, size: entryOverhead, stored: now, expires: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseEntry(b)
			if err != nil {
				t.Fatalf("ParseEntry: %v", err)
			}
			if !got.stored.Equal(tt.e.stored) || !got.expires.Equal(tt.e.expires) {
				t.Errorf("times %v/%v, want %v/%v", got.stored, got.expires, tt.e.stored, tt.e.expires)
			}
			got.stored, got.expires = tt.e.stored, tt.e.expires
			if len(got.body) == 0 && len(tt.e.body) == 0 {
				got.body = tt.e.body // nil or empty
			}
			if !reflect.DeepEqual(got, tt.e) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.e)
			}
		})
	}
}

func TestParseEntryRejectsCorruptBytes(t *testing.T) {
	e := snapshot(t, http.Header{"Etag": {`"v1"`}, "Vary": {"Accept"}}, "body", time.Now())
	b, _ := e.MarshalBinary()
	for i := range len(b) { // every truncation
		if _, err := ParseEntry(b[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ParseEntry of %d of %d bytes: %v, want ErrCorrupt", i, len(b), err)
		}
	}
	if _, err := ParseEntry(append(b, 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: %v, want ErrCorrupt", err)
	}
	if _, err := ParseEntry([]byte("not an entry")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage: %v, want ErrCorrupt", err)
	}
}

func FuzzParseEntry(f *testing.F) {
	e := snapshot(f, http.Header{"Etag": {`"v1"`}, "Vary": {"Accept"}}, "body", time.Now())
	b, _ := e.MarshalBinary()
	f.Add(b)
	f.Add([]byte(entryMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		// What parses must serialize back to something that parses the same.
		b2, _ := e.MarshalBinary()
		e2, err := ParseEntry(b2)
		if err != nil || len(e2.body) != len(e.body) || e2.status != e.status {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

// bytesOnly hides a MemoryStore's EntryStore methods, so that Load and
// Save serialize as with a remote store.
type bytesOnly struct{ s *MemoryStore }

func (b bytesOnly) Get(ctx context.Context, k string) ([]byte, error) { return b.s.Get(ctx, k) }
func (b bytesOnly) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	return b.s.Set(ctx, k, v, ttl)
}
func (b bytesOnly) Delete(ctx context.Context, k string) error { return b.s.Delete(ctx, k) }

func TestLoadSaveThroughStores(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	for _, name := range []string{"entries", "bytes"} {
		t.Run(name, func(t *testing.T) {
			ms, err := NewMemoryStore(Options{Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			var s Store = ms
			if name == "bytes" {
				s = bytesOnly{ms}
			}
			json := newReq(t, "GET", "https://api.example.com/x", "Accept", "application/json")
			xml := newReq(t, "GET", "https://api.example.com/x", "Accept", "text/xml")
			base := Key(json, nil)
			if base != Key(xml, nil) {
				t.Fatal("the base keys differ")
			}
			ej := snapshot(t, http.Header{"Vary": {"Accept"}}, "json", clk.now())
			if err := Save(ctx, s, base, json, ej, time.Minute); err != nil {
				t.Fatal(err)
			}
			if e, _, err := Load(ctx, s, base, xml); err != nil || e != nil {
				t.Fatalf("xml variant before it is stored: %v, %v", e, err)
			}
			ex := snapshot(t, http.Header{"Vary": {"Accept"}}, "xml", clk.now())
			if err := Save(ctx, s, base, xml, ex, time.Minute); err != nil {
				t.Fatal(err)
			}
			for req, want := range map[*http.Request]string{json: "json", xml: "xml"} {
				e, key, err := Load(ctx, s, base, req)
				if err != nil || e == nil || string(e.body) != want || key != VariantKey(base, req, []string{"Accept"}) {
					t.Errorf("Load %s: %v, %q, %v", want, e, key, err)
				}
			}
			clk.add(time.Minute) // the TTL
			if e, _, err := Load(ctx, s, base, json); err != nil || e != nil {
				t.Errorf("after the TTL: %v, %v, want a miss", e, err)
			}
		})
	}
}

func TestMemoryStoreBounds(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ms, err := NewMemoryStore(Options{MaxBytes: 4096, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	small := entry(t, 100, time.Hour, clk.now())
	if err := ms.SetEntry(ctx, "k", small, 0); err != nil {
		t.Fatal(err)
	}
	if err := ms.SetEntry(ctx, "k", entry(t, 5000, time.Hour, clk.now()), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("entry over MaxBytes: %v, want ErrTooLarge", err)
	}
	if _, err := ms.GetEntry(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the superseded entry: %v, want ErrNotFound", err)
	}
	if err := ms.Set(ctx, "k", []byte("junk"), 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Set of junk: %v, want ErrCorrupt", err)
	}
	if err := ms.SetEntry(ctx, "k", small, time.Second); err != nil {
		t.Fatal(err)
	}
	clk.add(999 * time.Millisecond)
	if _, err := ms.GetEntry(ctx, "k"); err != nil {
		t.Errorf("before the TTL: %v", err)
	}
	clk.add(time.Millisecond)
	if _, err := ms.GetEntry(ctx, "k"); !errors.Is(err, ErrNotFound) || ms.Cache().Len() != 0 {
		t.Errorf("at the TTL: %v, %d held; want ErrNotFound and 0", err, ms.Cache().Len())
	}
}

func TestKeyerSaltedFingerprint(t *testing.T) {
	req := newReq(t, "GET", "https://api.example.com/x?b=2&a=1", "Authorization", "Bearer secret-token-1")
	salt := []byte("a shared secret salt")
	k1, k2, other := NewKeyer(salt), NewKeyer(salt), NewKeyer([]byte("another salt"))
	key := k1.Key(req, nil, nil)
	if key != k2.Key(req, nil, nil) {
		t.Error("two Keyers with one salt give different keys")
	}
	if key == other.Key(req, nil, nil) || key == Key(req, nil) {
		t.Error("another salt gives the same key")
	}
	if strings.Contains(key, "secret-token-1") {
		t.Errorf("key %q holds the credential", key)
	}
	// The fingerprint is HMAC-SHA256 keyed by SHA-256(salt) of the
	// length-prefixed credential, cut to 128 bits.
	k := sha256.Sum256(salt)
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte("h13:authorization21:Bearer secret-token-1"))
	want := hex.EncodeToString(m.Sum(nil)[:16])
	if got := Partition(key); got != want {
		t.Errorf("Partition = %q, want the HMAC %q", got, want)
	}
	vk := VariantKey(key, newReq(t, "GET", "https://api.example.com/x", "Accept", "x"), []string{"Accept"})
	if Partition(vk) != want {
		t.Errorf("Partition of the variant key = %q", Partition(vk))
	}
	if p := Partition(k1.Key(newReq(t, "GET", "https://api.example.com/x"), nil, nil)); p != "" {
		t.Errorf("Partition without a credential = %q, want empty", p)
	}
	forged := newReq(t, "GET", "https://api.example.com/x")
	forged.Host = "evil\ncred:" + want
	if p := Partition(k1.Key(forged, nil, nil)); p != "" {
		t.Errorf("a Host header forged a partition: %q", p)
	}
}
