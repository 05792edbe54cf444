package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
)

func response(code int, kv ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return &http.Response{StatusCode: code, Header: h}
}

func urlErr(err error) error { return &url.Error{Op: "Get", URL: "https://api.example.com/", Err: err} }

var (
	errRefused = urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	errReset   = urlErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)})
)

func TestClassify(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		resp *http.Response
		err  error
		want Class
	}{
		{"200", live, response(200), nil, Success},
		{"204", live, response(204), nil, Success},
		{"304", live, response(304), nil, Success},
		{"400", live, response(400), nil, Permanent},
		{"401", live, response(401), nil, Permanent},
		{"403", live, response(403), nil, Permanent},
		{"404", live, response(404), nil, Permanent},
		{"408", live, response(408), nil, Permanent},
		{"409", live, response(409), nil, Permanent},
		{"429", live, response(429), nil, Throttled},
		{"429 with Retry-After", live, response(429, "Retry-After", "3"), nil, Throttled},
		{"500", live, response(500), nil, Permanent},
		{"500 with Retry-After", live, response(500, "Retry-After", "3"), nil, Permanent},
		{"501", live, response(501), nil, Permanent},
		{"502", live, response(502), nil, Transient},
		{"503", live, response(503), nil, Transient},
		{"503 with Retry-After", live, response(503, "Retry-After", "3"), nil, Throttled},
		{"503 with Retry-After date", live, response(503, "Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"), nil, Throttled},
		{"503 with retry-after-ms", live, response(503, "Retry-After-Ms", "300"), nil, Throttled},
		{"503 with bad Retry-After", live, response(503, "Retry-After", "later"), nil, Transient},
		{"504", live, response(504), nil, Transient},
		{"505", live, response(505), nil, Permanent},
		{"response after caller gave up", done, response(200), nil, Success},
		{"neither response nor error", live, nil, nil, Permanent},
		{"connection refused", live, nil, errRefused, Transient},
		{"connection reset", live, nil, errReset, Transient},
		{"unexpected EOF", live, nil, urlErr(io.ErrUnexpectedEOF), Transient},
		{"EOF", live, nil, urlErr(io.EOF), Transient},
		{"net timeout", live, nil, urlErr(&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}), Transient},
		{"unknown error", live, nil, errors.New("http2: stream error: REFUSED_STREAM"), Transient},
		{"per-attempt timeout, caller live", live, nil, urlErr(context.DeadlineExceeded), Transient},
		{"caller deadline passed", done, nil, urlErr(context.DeadlineExceeded), Canceled},
		{"caller canceled", done, nil, urlErr(context.Canceled), Canceled},
		{"canceled, caller ctx unknown", nil, nil, urlErr(context.Canceled), Canceled},
		{"transport error after caller gave up", done, nil, errReset, Canceled},
		{"nil ctx is live", nil, nil, urlErr(context.DeadlineExceeded), Transient},
		{"error wins over response", live, response(200), errReset, Transient},
		{"unknown host", live, nil, urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}}), Permanent},
		{"dns timeout", live, nil, urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}}), Transient},
		{"unknown authority", live, nil, urlErr(x509.UnknownAuthorityError{}), Permanent},
		{"hostname mismatch", live, nil, urlErr(x509.HostnameError{Host: "x"}), Permanent},
		{"expired certificate", live, nil, urlErr(x509.CertificateInvalidError{Reason: x509.Expired}), Permanent},
		{"certificate verification", live, nil, urlErr(&tls.CertificateVerificationError{Err: errors.New("bad")}), Permanent},
		{"plain HTTP server", live, nil, urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.ctx, tt.resp, tt.err); got != tt.want {
				t.Fatalf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestClassifyRealTransport runs real attempts through net/http: a refused
// connection, and an attempt whose own deadline passed while the caller's
// context is live, then after the caller's has passed too.
func TestClassifyRealTransport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()

	live := context.Background()
	expired, cancel := context.WithTimeout(live, 0)
	defer cancel()
	attempt, cancelAttempt := context.WithTimeout(live, 0)
	defer cancelAttempt()

	tests := []struct {
		name       string
		caller     context.Context
		attempt    context.Context
		want       Class
		unprocesed bool
	}{
		{"refused", live, live, Transient, true},
		{"attempt timeout", live, attempt, Transient, false},
		{"caller deadline", expired, expired, Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(tt.attempt, http.MethodPost, "http://"+addr+"/", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tr.RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}
			if got := Classify(tt.caller, resp, err); got != tt.want {
				t.Fatalf("Classify(%v) = %v, want %v", err, got, tt.want)
			}
			if got := Unprocessed(resp, err); got != tt.unprocesed {
				t.Fatalf("Unprocessed(%v) = %v, want %v", err, got, tt.unprocesed)
			}
		})
	}
}

func TestMethodRetryable(t *testing.T) {
	tests := []struct {
		method string
		key    string
		allow  bool
		want   bool
	}{
		{"", "", false, true}, // net/http: empty means GET
		{http.MethodGet, "", false, true},
		{http.MethodHead, "", false, true},
		{http.MethodPut, "", false, true},
		{http.MethodDelete, "", false, true},
		{http.MethodOptions, "", false, true},
		{http.MethodTrace, "", false, true},
		{http.MethodPost, "", false, false},
		{http.MethodPatch, "", false, false},
		{http.MethodConnect, "", false, false},
		{"PROPFIND", "", false, false},
		{"get", "", false, false}, // methods are case-sensitive
		{http.MethodPost, "k-123", false, true},
		{http.MethodPatch, "k-123", false, true},
		{http.MethodPost, "", true, true},
		{http.MethodPatch, "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.key, func(t *testing.T) {
			req := &http.Request{Method: tt.method, Header: http.Header{}}
			if tt.key != "" {
				req.Header.Set("idempotency-key", tt.key)
			}
			if got := MethodRetryable(req, tt.allow); got != tt.want {
				t.Fatalf("MethodRetryable(%s, key %q, allow %v) = %v, want %v", tt.method, tt.key, tt.allow, got, tt.want)
			}
		})
	}
	if MethodRetryable(nil, true) {
		t.Error("MethodRetryable(nil) = true, want false")
	}
}

func TestMayRetry(t *testing.T) {
	get := func() *http.Request { return &http.Request{Method: http.MethodGet, Header: http.Header{}} }
	post := func() *http.Request { return &http.Request{Method: http.MethodPost, Header: http.Header{}} }
	withBody := func(r *http.Request, getBody bool) *http.Request {
		r.Body = io.NopCloser(strings.NewReader("payload"))
		if getBody {
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("payload")), nil }
		}
		return r
	}
	tests := []struct {
		name   string
		policy Policy
		req    *http.Request
		resp   *http.Response
		err    error
		want   bool
	}{
		{"GET 503", Policy{}, get(), response(503), nil, true},
		{"GET 429", Policy{}, get(), response(429), nil, true},
		{"GET 500", Policy{}, get(), response(500), nil, false},
		{"GET 404", Policy{}, get(), response(404), nil, false},
		{"GET 200", Policy{}, get(), response(200), nil, false},
		{"GET reset", Policy{}, get(), nil, errReset, true},
		{"POST 429, server did not act", Policy{}, post(), response(429), nil, true},
		{"POST 503", Policy{}, post(), response(503), nil, false},
		{"POST 503 with Retry-After", Policy{}, post(), response(503, "Retry-After", "1"), nil, false},
		{"POST refused before sending", Policy{}, post(), nil, errRefused, true},
		{"POST reset after sending", Policy{}, post(), nil, errReset, false},
		{"POST 503 opted in", Policy{RetryNonIdempotent: true}, post(), response(503), nil, true},
		{"PUT body with GetBody", Policy{}, withBody(&http.Request{Method: http.MethodPut, Header: http.Header{}}, true), response(503), nil, true},
		{"PUT body without GetBody", Policy{}, withBody(&http.Request{Method: http.MethodPut, Header: http.Header{}}, false), response(503), nil, false},
		{"POST 429 body without GetBody", Policy{}, withBody(post(), false), response(429), nil, false},
		{"GET NoBody", Policy{}, &http.Request{Method: http.MethodGet, Body: http.NoBody}, response(502), nil, true},
		{"nil request", Policy{}, nil, response(503), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Classify(context.Background(), tt.resp, tt.err)
			if got := tt.policy.MayRetry(tt.req, tt.resp, tt.err, c); got != tt.want {
				t.Fatalf("MayRetry (class %v) = %v, want %v", c, got, tt.want)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	tests := map[Class]string{Success: "success", Throttled: "throttled", Transient: "transient", Permanent: "permanent", Canceled: "canceled", 42: "Class(42)"}
	for c, want := range tests {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	ctx := context.Background()
	resp := response(200)
	for b.Loop() {
		_ = Classify(ctx, resp, nil)
	}
}
