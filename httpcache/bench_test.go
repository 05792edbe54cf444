package httpcache

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func BenchmarkGetHit(b *testing.B) {
	c := mustCache(b, Options{})
	now := time.Now()
	for i := range 1000 {
		c.Put("key"+strconv.Itoa(i), entry(b, 512, time.Hour, now))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, fresh, ok := c.Get("key500"); !ok || !fresh {
			b.Fatal("miss")
		}
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	c := mustCache(b, Options{})
	c.Put("k", entry(b, 512, time.Hour, time.Now()))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Get("k")
		}
	})
}

// BenchmarkHitPath is what a Transport does on a hit: Key, Get, Response,
// read the body.
func BenchmarkHitPath(b *testing.B) {
	c := mustCache(b, Options{})
	req := newReq(b, "GET", "https://api.example.com/v1/items?page=2", "Authorization", "Bearer sk-0123456789abcdef")
	c.Put(Key(req, nil), entry(b, 512, time.Hour, time.Now()))
	b.ReportAllocs()
	for b.Loop() {
		e, _, _ := c.Get(Key(req, nil))
		r := e.Response(req)
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
}

func BenchmarkPut(b *testing.B) {
	c := mustCache(b, Options{MaxEntries: 1000})
	e := entry(b, 512, time.Hour, time.Now())
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "key" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Put(keys[i%len(keys)], e)
		i++
	}
}

func BenchmarkGroupDoUncontended(b *testing.B) {
	var g Group
	fn := func(context.Context) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("body"))}, nil
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, _, err := g.Do(ctx, "k", fn)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}
