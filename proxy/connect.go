package proxy

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/sluicehq/sluice/egress"
)

// connect opens a CONNECT tunnel: the host must pass the forward ACL, the
// port must be one of ConnectPorts, and the address the egress checks.
// The proxy sees only host:port: nothing inside the tunnel is shaped.
func (h *Handler) connect(w http.ResponseWriter, r *http.Request, e *entry) {
	host, portStr, err := net.SplitHostPort(r.Host)
	if err != nil {
		h.refuse(w, e, http.StatusBadRequest, "bad_target", "CONNECT needs host:port")
		return
	}
	host = egress.Normalize(host)
	e.upstream = host
	port, _ := strconv.Atoi(portStr)
	okPort := false
	for _, p := range h.cfg.Forward.ConnectPorts {
		okPort = okPort || p == port
	}
	if !okPort {
		h.refuse(w, e, http.StatusForbidden, "port_refused", "port "+portStr+" is not in proxy.forward.connect_ports")
		return
	}
	if !h.fwd.Allowed(host) {
		h.refuse(w, e, http.StatusForbidden, "destination_refused", "host "+host+" is not in proxy.forward.allow")
		return
	}
	up, err := h.dialer.DialContext(r.Context(), "tcp", net.JoinHostPort(host, portStr))
	if err != nil {
		h.fail(w, r, false, e, err)
		return
	}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	e.status = http.StatusOK
	if err := rc.Flush(); err != nil {
		up.Close()
		return
	}
	down, brw, err := rc.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !h.addTunnel(down, up) {
		return
	}
	h.stats.open.Add(1)
	defer h.stats.open.Add(-1)
	defer h.removeTunnel(down, up)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, _ := io.Copy(up, brw)
		e.bytes += n
		if tc, ok := up.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		} else {
			up.Close()
		}
	}()
	_, _ = io.Copy(down, up)
	down.Close()
	up.Close()
	wg.Wait()
}

func (h *Handler) addTunnel(cs ...net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining.Load() {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		h.tunnels[c] = struct{}{}
	}
	return true
}

func (h *Handler) removeTunnel(cs ...net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range cs {
		delete(h.tunnels, c)
	}
}
