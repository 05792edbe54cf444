package proxy

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestUpstreamResetThroughH1: a plain-HTTP upstream that resets the
// connection instead of answering (h1.Transport's error, not net/http's)
// is still a transient failure to the pipeline: a GET is retried and
// answered, a POST without an Idempotency-Key is not re-sent and gets a
// 502 upstream_error naming the failure.
func TestUpstreamResetThroughH1(t *testing.T) {
	var seen, resets atomic.Int64
	r := newRigWith(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := seen.Add(1)
		if req.Method == "POST" || n == 1 {
			resets.Add(1)
			c, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			c.(*net.TCPConn).SetLinger(0) // RST, not FIN
			c.Close()
			return
		}
		echoHandler(w, req)
	}), nil)

	resp := r.do("GET", "/prov/x", alice, nil)
	if e := decodeEcho(t, resp); e.Method != "GET" || resets.Load() != 1 || seen.Load() != 2 {
		t.Errorf("GET: %+v after %d attempts (%d reset); want the retry's echo", e, seen.Load(), resets.Load())
	}

	before := seen.Load()
	resp = r.do("POST", "/prov/x", alice, strings.NewReader("charge"))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p struct{ Reason, Detail string }
	json.Unmarshal(b, &p)
	if resp.StatusCode != http.StatusBadGateway || p.Reason != "upstream_error" || !strings.Contains(p.Detail, "reset") {
		t.Errorf("POST: %d %s; want 502 upstream_error with the reset in its detail", resp.StatusCode, b)
	}
	if n := seen.Load() - before; n != 1 {
		t.Errorf("POST sent %d times; want once", n)
	}
}
