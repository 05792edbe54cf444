package h1

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRoundTrip compares this Transport with net/http's on parallel
// GETs of 61 bytes from a loopback server (the same server, one run).
func BenchmarkRoundTrip(b *testing.B) {
	body := []byte(`{"ok":true,"pad":"0123456789012345678901234567890123456789"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	var d net.Dialer
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1", &Transport{DialContext: d.DialContext}},
		{"net_http", &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 256, DisableCompression: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
					resp, err := bc.rt.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
		if c, ok := bc.rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}
