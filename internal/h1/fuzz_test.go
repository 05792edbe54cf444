package h1

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FuzzAnswer: whatever bytes a loopback upstream sends as its first
// answer, the Transport returns an error or a response whose body is as
// long as its Content-Length says, never panics, and the next request gets
// the upstream's answer to it, never bytes left over from the first: its
// body is a token drawn after the fuzzer chose the bytes.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n2\r\nok\r\n0\r\nX: y\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		var raw [16]byte
		rand.Read(raw[:])
		token := hex.EncodeToString(raw[:])
		first := true
		url := rawServer(t, func(c net.Conn, br *bufio.Reader) {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				if first {
					first = false
					c.Write(answer)
					continue
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n"+token)
			}
		})
		tr := newTransport(t)
		tr.probeAfter = -1 // only the end-of-answer checks keep leftovers out

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := tr.RoundTrip(req); err == nil {
			b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if err == nil && resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength {
				t.Fatalf("a body of %d bytes read to its end for a Content-Length of %d", len(b), resp.ContentLength)
			}
		}

		req, _ = http.NewRequestWithContext(boundedCtx(t), "GET", url, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("second request: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != token {
			t.Fatalf("second request read %q (%v); want the upstream's answer to it", b, err)
		}
	})
}
