package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/egress"
	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/limit"
)

// entry is one access-log record in the making.
type entry struct {
	mode, consumer, upstream, reason string
	status                           int
	url                              *url.URL
	bytes                            int64
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	e := &entry{mode: "base"}
	defer func() { h.record(r, e, time.Since(start)) }()
	switch {
	case r.Method == http.MethodConnect:
		e.mode = "connect"
	case r.URL.IsAbs():
		e.mode = "forward"
	}
	if h.draining.Load() {
		h.refuse(w, e, http.StatusServiceUnavailable, "draining", "the proxy is shutting down; retry on another replica")
		return
	}
	consumer, via, ok := h.authenticate(r)
	if !ok {
		if e.mode == "base" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			h.refuse(w, e, http.StatusUnauthorized, "unauthenticated", "send the proxy token as Authorization: Bearer <token>")
		} else {
			w.Header().Set("Proxy-Authenticate", `Basic realm="sluice"`)
			h.refuse(w, e, http.StatusProxyAuthRequired, "unauthenticated", "send the proxy token in Proxy-Authorization (Bearer <token>, or Basic with the token as password)")
		}
		return
	}
	e.consumer = consumer
	switch e.mode {
	case "connect":
		h.connect(w, r, e)
	case "forward":
		h.forward(w, r, e)
	default:
		h.baseURL(w, r, e, via)
	}
}

// authenticate finds the consumer of r. via is the header that carried
// the token ("Authorization" is then not forwarded).
func (h *Handler) authenticate(r *http.Request) (consumer, via string, ok bool) {
	if v := r.Header.Get("Proxy-Authorization"); v != "" {
		if name, ok := h.lookup(proxyToken(v)); ok {
			return name, "Proxy-Authorization", true
		}
		return "", "", false
	}
	if v := r.Header.Get("Authorization"); v != "" {
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok {
			if name, ok := h.lookup(strings.TrimSpace(tok)); ok {
				return name, "Authorization", true
			}
		}
	}
	if h.cfg.AllowAnonymous {
		return "anonymous", "", true
	}
	return "", "", false
}

func (h *Handler) lookup(tok string) (string, bool) {
	if tok == "" {
		return "", false
	}
	name, ok := h.tokens[sha256.Sum256([]byte(tok))]
	return name, ok
}

// proxyToken extracts the token of a Proxy-Authorization value: Bearer
// <token>, or Basic with the token as password (or as user when the
// password is empty, as curl -U token: sends it).
func proxyToken(v string) string {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer":
		return rest
	case "basic":
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return ""
		}
		user, pass, _ := strings.Cut(string(b), ":")
		if pass != "" {
			return pass
		}
		return user
	}
	return ""
}

// match finds the upstream of a base-URL request and the rest of its path.
func (h *Handler) match(r *http.Request) (*upstream, string, string) {
	host := egress.Normalize(hostOnly(r.Host))
	path, raw := r.URL.Path, r.URL.EscapedPath()
	var best *upstream
	for _, u := range h.ups {
		if u.Host != "" && !strings.EqualFold(u.Host, host) {
			continue
		}
		if u.Prefix != "" && path != u.Prefix && !strings.HasPrefix(path, u.Prefix+"/") {
			continue
		}
		if best == nil || len(u.Prefix) > len(best.Prefix) || (u.Host != "" && best.Host == "") {
			best = u
		}
	}
	if best == nil {
		return nil, "", ""
	}
	rawRest := raw
	if best.Prefix != "" {
		rawRest = strings.TrimPrefix(raw, best.Prefix)
		if rawRest == raw { // the escaped form differs around the prefix
			rawRest = strings.TrimPrefix(path, best.Prefix)
		}
	}
	return best, strings.TrimPrefix(path, best.Prefix), rawRest
}

// hostOnly drops the port of a Host header ("[::1]:8080" gives "[::1]",
// which Normalize unbrackets), without net.SplitHostPort's error
// allocation for the common Host without a port.
func hostOnly(hostport string) string {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.IndexByte(hostport[i:], ']') >= 0 {
		return hostport // no port, or a bracketed IPv6 address without one
	}
	if strings.IndexByte(hostport[:i], ':') >= 0 && !strings.HasPrefix(hostport, "[") {
		return hostport // a bare IPv6 address
	}
	return hostport[:i]
}

func (h *Handler) baseURL(w http.ResponseWriter, r *http.Request, e *entry, via string) {
	up, rest, rawRest := h.match(r)
	if up == nil {
		h.refuse(w, e, http.StatusNotFound, "no_upstream", "no upstream is mounted on this path or host; see the proxy's upstreams")
		return
	}
	e.upstream = up.Name
	if hasDotSegment(r.URL.Path) || strings.Contains(strings.ToLower(r.URL.RawPath), "%2e") {
		h.refuse(w, e, http.StatusBadRequest, "bad_path", "the path has a . or .. segment")
		return
	}
	u := *up.target
	u.Path = up.target.Path + rest
	if up.target.RawPath != "" || rawRest != rest {
		u.RawPath = up.target.EscapedPath() + rawRest
	}
	u.RawQuery = r.URL.RawQuery
	out := requestHeader(r.Header, via == "Authorization")
	if up.credHeader != "" {
		if out.Get(up.credHeader) != "" && !up.Credential.ClientOverride {
			h.refuse(w, e, http.StatusForbidden, "credential_override", "this upstream's credential is set by the proxy; do not send "+up.credHeader)
			return
		}
		if out.Get(up.credHeader) == "" {
			out.Set(up.credHeader, up.credValue)
		}
	}
	h.send(w, r, e, &u, out)
}

func (h *Handler) forward(w http.ResponseWriter, r *http.Request, e *entry) {
	if r.URL.Scheme != "http" {
		h.refuse(w, e, http.StatusBadRequest, "bad_scheme", "forward mode carries http:// URLs; use CONNECT (HTTPS_PROXY) or base-URL mode for https")
		return
	}
	host := egress.Normalize(r.URL.Hostname())
	e.upstream = host
	if !h.fwd.Allowed(host) {
		h.refuse(w, e, http.StatusForbidden, "destination_refused", "host "+host+" is not in proxy.forward.allow")
		return
	}
	u := *r.URL
	u.User = nil
	out := requestHeader(r.Header, false)
	h.send(w, r, e, &u, out)
}

// smallBody is the largest request body buffered so that the pipeline
// may resend it on a retry.
const smallBody = 1 << 20

// send runs the outgoing request through the pipeline and copies the
// answer back.
func (h *Handler) send(w http.ResponseWriter, r *http.Request, e *entry, u *url.URL, hdr http.Header) {
	e.url = u
	wait, prio, cost, bad := controls(r.Header, h.cfg.DefaultWait, h.cfg.MaxWait)
	if bad != "" {
		h.refuse(w, e, http.StatusBadRequest, "bad_control_header", bad)
		return
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.refuse(w, e, http.StatusRequestEntityTooLarge, "body_too_large", "the request body is over proxy.max_body_bytes")
		return
	}
	st := &reqState{}
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), stateKey{}, st), wait)
	st.cancel = cancel
	defer cancel()
	h.inflight.add(st)
	defer h.inflight.remove(st)
	if prio != limit.PriorityNormal {
		ctx = limit.WithPriority(ctx, prio)
	}
	if h.fair {
		ctx = limit.WithConsumer(ctx, e.consumer)
	}
	if cost > 0 {
		ctx = sluice.WithCost(ctx, cost)
	}
	// A shallow copy: the header, URL and body are replaced below, and
	// the rest is read only.
	out := r.WithContext(ctx)
	if r.Trailer != nil {
		out.Trailer = r.Trailer.Clone()
	}
	hdr[consumerHeader] = []string{e.consumer}
	out.Header = hdr
	if _, ok := hdr["User-Agent"]; !ok {
		hdr["User-Agent"] = nil // no Go default
	}
	out.URL, out.Host, out.RequestURI, out.Close = u, u.Host, "", false
	if err := h.body(w, r, out); err != nil {
		h.bodyError(w, e, err)
		return
	}
	resp, err := h.tr.RoundTrip(out)
	h.met.waited(e.consumer, st)
	if err != nil {
		h.fail(w, r, st.drained.Load(), e, err)
		return
	}
	defer resp.Body.Close()
	stripHop(resp.Header)
	dst := w.Header()
	for k, vs := range resp.Header {
		dst[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	e.status = resp.StatusCode
	e.bytes, _ = copyBody(w, resp.Body, resp.ContentLength)
}

// body sets out's body: up to smallBody bytes (or MaxBodyBytes if lower)
// are read first, so a small body can be resent on a retry and a body over
// the limit is refused before anything is dialed; the rest of a larger
// body streams, cut at MaxBodyBytes. The buffer is sized from the
// request's Content-Length when it has one.
func (h *Handler) body(w http.ResponseWriter, r *http.Request, out *http.Request) error {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		out.Body, out.ContentLength = http.NoBody, 0
		return nil
	}
	body := http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	keep := min(h.cfg.MaxBodyBytes, smallBody) // buffered for retries up to this
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		// ReadFrom wants MinRead bytes free before each read: with them
		// the final read that sees EOF needs no second buffer.
		buf.Grow(int(min(r.ContentLength, keep+1)) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(body, keep+1))
	if err != nil {
		return err
	}
	b := buf.Bytes()
	if n <= keep {
		out.Body = io.NopCloser(bytes.NewReader(b))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		out.ContentLength = n
		out.TransferEncoding = nil // whole: sent with its length, not chunked
		return nil
	}
	out.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), body), body}
	return nil
}

func (h *Handler) bodyError(w http.ResponseWriter, e *entry, err error) {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		h.refuse(w, e, http.StatusRequestEntityTooLarge, "body_too_large", "the request body is over proxy.max_body_bytes")
		return
	}
	h.refuse(w, e, http.StatusBadRequest, "bad_body", "reading the request body failed")
}

// fail answers a request the pipeline returned an error for; drained says
// Drain ended its wait.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, drained bool, e *entry, err error) {
	var rl *sluice.RateLimitError
	var ce *limit.CapError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var mb *http.MaxBytesError
	switch {
	case drained:
		h.refuse(w, e, http.StatusServiceUnavailable, "draining", "the proxy is shutting down before this request's turn came; retry on another replica")
	case r.Context().Err() != nil:
		e.status, e.reason = 499, "client_gone"
	case errors.As(err, &rl) && errors.As(err, &ce):
		h.capped(w, e, rl, ce)
	case errors.As(err, &rl):
		li := h.limits[rl.Route]
		rateLimitHeaders(w.Header(), rl.Route, li.quota, li.window, rl.Wait)
		e.status, e.reason = http.StatusTooManyRequests, "rate_limited"
		h.stats.refused(e.reason)
		writeProblemBody(w, problem{Status: http.StatusTooManyRequests, Reason: "rate_limited", Route: rl.Route,
			RetryAfter: rl.Wait.Seconds(),
			Detail:     "route " + rl.Route + " (" + rl.Reason + ") could not serve this request within its wait (Sluice-Max-Wait, capped by proxy.max_wait)"})
	case errors.Is(err, egress.ErrRefused):
		h.refuse(w, e, http.StatusForbidden, "destination_refused", redact.Error(err).Error())
	case errors.Is(err, sluice.ErrCircuitOpen):
		h.refuse(w, e, http.StatusServiceUnavailable, "circuit_open", "the upstream failed repeatedly; the route's breaker is open")
	case errors.Is(err, sluice.ErrClosed):
		h.refuse(w, e, http.StatusServiceUnavailable, "draining", "the proxy is shutting down")
	case errors.Is(err, context.DeadlineExceeded):
		h.refuse(w, e, http.StatusGatewayTimeout, "wait_exceeded", "no answer within the request's wait")
	case errors.As(err, &mb):
		h.bodyError(w, e, err)
	case errors.As(err, &ue), errors.As(err, &he):
		h.refuse(w, e, http.StatusBadGateway, "upstream_tls", "the upstream's TLS certificate did not verify")
	default:
		h.refuse(w, e, http.StatusBadGateway, "upstream_error", redact.Error(err).Error())
	}
}

// refuse answers with a problem and records the reason.
func (h *Handler) refuse(w http.ResponseWriter, e *entry, status int, reason, detail string) {
	e.status, e.reason = status, reason
	h.stats.refused(reason)
	writeProblem(w, status, reason, detail)
}

// controls reads the Sluice-* request headers.
func controls(hd http.Header, def, max time.Duration) (wait time.Duration, prio limit.Priority, cost int64, bad string) {
	wait = def
	if v := hd.Get("Sluice-Max-Wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			if n, nerr := strconv.ParseFloat(v, 64); nerr == nil {
				d, err = time.Duration(n*float64(time.Second)), nil
			}
		}
		if err != nil || d <= 0 {
			return 0, 0, 0, "Sluice-Max-Wait must be a positive duration (\"30s\") or number of seconds"
		}
		wait = d
	}
	wait = min(wait, max)
	switch v := strings.ToLower(hd.Get("Sluice-Priority")); v {
	case "", "normal":
	case "low":
		prio = limit.PriorityLow
	case "high":
		prio = limit.PriorityHigh
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < -100 || n > 100 {
			return 0, 0, 0, "Sluice-Priority must be low, normal, high or an integer from -100 to 100"
		}
		prio = limit.Priority(n)
	}
	if v := hd.Get("Sluice-Cost"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1e9 {
			return 0, 0, 0, "Sluice-Cost must be a whole number from 1 to 1000000000"
		}
		cost = n
	}
	return wait, prio, cost, ""
}

// copyBufs recycles the 32 KiB buffers answers are copied through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody copies the answer's body to the client. An answer of unknown
// length (chunked, server-sent events) is flushed after each read, so a
// stream reaches the client as it comes; one of known length is left to
// the server's buffering and flushed once, when it is complete, so that it
// leaves before the access log is written.
func copyBody(w http.ResponseWriter, body io.Reader, length int64) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	flush := http.NewResponseController(w).Flush
	var n int64
	for {
		k, err := body.Read(buf)
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
			if length < 0 {
				_ = flush()
			}
		}
		if err == io.EOF {
			if length >= 0 {
				_ = flush()
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// record counts the request and writes its access-log line (unless the
// access log is off and the request was served); the line carries no
// header and a redacted URL.
func (h *Handler) record(r *http.Request, e *entry, d time.Duration) {
	h.stats.request(e.mode)
	h.met.answered(e.consumer, e.status)
	if e.reason == "" && !h.accessLog {
		return
	}
	var u string
	if e.url != nil {
		u = redact.URL(e.url)
	}
	if w := h.cfg.AccessLogWriter; w != nil {
		accessLine{w}.write(time.Now(), e, r.Method, u, d)
		return
	}
	var buf [9]slog.Attr // room for every attribute: no growth on the heap
	attrs := append(buf[:0],
		slog.String("mode", e.mode),
		slog.String("consumer", e.consumer),
		slog.String("method", r.Method),
		slog.Int("status", e.status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	)
	if e.upstream != "" {
		attrs = append(attrs, slog.String("upstream", e.upstream))
	}
	if u != "" {
		attrs = append(attrs, slog.String("url", u))
	}
	if e.reason != "" {
		attrs = append(attrs, slog.String("reason", e.reason))
	}
	if e.bytes > 0 {
		attrs = append(attrs, slog.Int64("bytes", e.bytes))
	}
	level := slog.LevelInfo
	if e.reason != "" {
		level = slog.LevelWarn
	}
	h.log.LogAttrs(r.Context(), level, "request", attrs...)
}
