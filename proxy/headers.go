package proxy

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// hopHeaders are removed from requests and responses (RFC 9110 7.6.1),
// along with every header a Connection header names.
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// clientOnlyHeaders are the client's statements about where the request
// goes or comes from; the proxy does not pass them on, so a client cannot
// smuggle a destination to the provider.
var clientOnlyHeaders = [...]string{
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port",
	"Forwarded", "X-Real-Ip", "X-Original-Url", "X-Rewrite-Url",
}

// requestDropped is the set of hopHeaders and clientOnlyHeaders.
var requestDropped = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range hopHeaders {
		m[h] = true
	}
	for _, h := range clientOnlyHeaders {
		m[h] = true
	}
	return m
}()

// controlPrefix starts the proxy's own request headers (Sluice-Max-Wait,
// Sluice-Priority, Sluice-Cost), read and removed.
const controlPrefix = "Sluice-"

// stripHop removes hop-by-hop headers, and those named in Connection, from h.
func stripHop(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		delete(h, name)
	}
}

// requestHeader returns the header of an outgoing request: a copy of in
// without hop-by-hop headers, the headers named in Connection, the
// destination headers (clientOnlyHeaders) and the Sluice-* control headers,
// and without Authorization when dropAuth is set (it carried the proxy
// token). One pass, one map and one slice of values, as Header.Clone.
func requestHeader(in http.Header, dropAuth bool) http.Header {
	var named []string // canonical names listed in Connection
	for _, v := range in["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				named = append(named, http.CanonicalHeaderKey(name))
			}
		}
	}
	nv := 0
	for _, vv := range in {
		nv += len(vv)
	}
	vals := make([]string, nv)
	out := make(http.Header, len(in))
	for k, vv := range in {
		if requestDropped[k] || (dropAuth && k == "Authorization") || isControl(k) || slices.Contains(named, k) {
			continue
		}
		if vv == nil {
			out[k] = nil
			continue
		}
		n := copy(vals, vv)
		out[k] = vals[:n:n]
		vals = vals[n:]
	}
	return out
}

// isControl reports whether name starts with controlPrefix, in any case.
func isControl(name string) bool {
	return len(name) >= len(controlPrefix) && strings.EqualFold(name[:len(controlPrefix)], controlPrefix)
}
