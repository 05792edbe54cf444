package bench

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/sluicehq/sluice"
)

// BenchmarkTransportOverhead sends GETs to a loopback server that answers
// 200 at once, through a bare http.Transport and through each retrying
// RoundTripper wrapping the same kind of transport. No limit is hit and no
// retry happens: the difference from "bare" is each library's per-request
// overhead.
func BenchmarkTransportOverhead(b *testing.B) {
	benchTransports(b, "loopback", nil)
}

// BenchmarkTransportOverheadInMemory is the same with an in-memory base
// transport that answers at once without a network, so that only the
// libraries' own work is measured.
func BenchmarkTransportOverheadInMemory(b *testing.B) {
	benchTransports(b, "inmemory", canned{})
}

// canned answers every request with a small 200 at once.
type canned struct{}

func (canned) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(`{"ok":true}`)),
		Request: req,
	}, nil
}

func benchTransports(b *testing.B, _ string, mem http.RoundTripper) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()

	newBase := func() baseTransport {
		if mem != nil {
			return memBase{mem}
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		return t
	}
	clients := []struct {
		name string
		make func(base baseTransport) (*http.Client, func())
	}{
		{"bare", func(base baseTransport) (*http.Client, func()) {
			return &http.Client{Transport: base}, func() {}
		}},
		{"sluice", func(base baseTransport) (*http.Client, func()) {
			tr, err := sluice.NewTransport(sluice.Config{}, base)
			if err != nil {
				b.Fatal(err)
			}
			return &http.Client{Transport: tr}, func() { tr.Close() }
		}},
		{"retryablehttp", func(base baseTransport) (*http.Client, func()) {
			rc := retryablehttp.NewClient()
			rc.HTTPClient.Transport = base
			rc.Logger = nil
			return rc.StandardClient(), func() {}
		}},
		{"failsafehttp", func(base baseTransport) (*http.Client, func()) {
			rp := failsafehttp.NewRetryPolicyBuilder().WithBackoff(100*time.Millisecond, 10*time.Second).WithMaxRetries(2).Build()
			return &http.Client{Transport: failsafehttp.NewRoundTripper(base, rp)}, func() {}
		}},
	}
	get := func(b *testing.B, c *http.Client, url string) {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for _, cl := range clients {
		b.Run("single/"+cl.name, func(b *testing.B) {
			base := newBase()
			defer base.CloseIdleConnections()
			c, done := cl.make(base)
			defer done()
			b.ReportAllocs()
			for b.Loop() {
				get(b, c, srv.URL+"/item")
			}
		})
	}
	for _, cl := range clients {
		b.Run("parallel/"+cl.name, func(b *testing.B) {
			base := newBase()
			defer base.CloseIdleConnections()
			c, done := cl.make(base)
			defer done()
			var g atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// One path per goroutine: no two identical GETs are in
				// flight at once, so sluice's coalescing never saves a call.
				url := fmt.Sprintf("%s/item/%d", srv.URL, g.Add(1))
				for pb.Next() {
					get(b, c, url)
				}
			})
		})
	}
}

// baseTransport is a RoundTripper whose idle connections can be closed.
type baseTransport interface {
	http.RoundTripper
	CloseIdleConnections()
}

type memBase struct{ http.RoundTripper }

func (memBase) CloseIdleConnections() {}

// BenchmarkTransportFeatures attributes sluice's per-request cost (in
// memory, as above) to its default steps by turning them off one at a time.
func BenchmarkTransportFeatures(b *testing.B) {
	off, on := false, true
	cfgs := []struct {
		name string
		pol  sluice.Policy
	}{
		{"default", sluice.Policy{}},
		{"coalesce", sluice.Policy{Coalesce: &on}},
		{"no-quota", sluice.Policy{Quota: &sluice.QuotaConfig{Disabled: true}}},
		{"no-breaker", sluice.Policy{Circuit: &sluice.CircuitConfig{Disabled: true}}},
		{"minimal", sluice.Policy{Coalesce: &off, Quota: &sluice.QuotaConfig{Disabled: true},
			Circuit: &sluice.CircuitConfig{Disabled: true}}},
	}
	for _, c := range cfgs {
		b.Run(c.name, func(b *testing.B) {
			tr, err := sluice.NewTransport(sluice.Config{Defaults: c.pol}, canned{})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			client := &http.Client{Transport: tr}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get("http://api.example.com/item")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
