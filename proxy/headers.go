package proxy

import (
	"net/http"
	"net/textproto"
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

// controlPrefix starts the proxy's own request headers (Sluice-Max-Wait,
// Sluice-Priority, Sluice-Cost), read and removed.
const controlPrefix = "Sluice-"

// stripHop removes hop-by-hop headers, and those named in Connection, from h.
func stripHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// stripRequest removes hop-by-hop, destination and control headers from
// an outgoing request's header.
func stripRequest(h http.Header) {
	stripHop(h)
	for _, name := range clientOnlyHeaders {
		h.Del(name)
	}
	for name := range h {
		if len(name) >= len(controlPrefix) && strings.EqualFold(name[:len(controlPrefix)], controlPrefix) {
			delete(h, name)
		}
	}
}
