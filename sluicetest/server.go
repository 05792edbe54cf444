package sluicetest

import (
	"net/http"
	"net/http/httptest"
	"time"
)

// Server is a Provider listening on a loopback address, like
// httptest.Server. Close it when done.
type Server struct {
	// URL is the base URL of the server, http://127.0.0.1:port, without a
	// trailing slash.
	URL string

	p  *Provider
	ts *httptest.Server
}

// NewServer starts a provider with the given options on a loopback port.
// It panics only if it cannot listen, as httptest.NewServer does.
func NewServer(opts Options) *Server {
	p := NewProvider(opts)
	ts := httptest.NewServer(p)
	if tr, ok := ts.Client().Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = 64 // keep connections for concurrent tests
	}
	return &Server{URL: ts.URL, p: p, ts: ts}
}

// Provider returns the provider behind the server.
func (s *Server) Provider() *Provider { return s.p }

// Client returns an HTTP client for the server, keeping up to 64 idle
// connections to it. Close closes its idle connections.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close releases hanging requests, shuts the server down and waits for
// outstanding requests to finish.
func (s *Server) Close() {
	s.p.Close()
	s.ts.Close()
}

// Stats returns a snapshot of the provider's counters.
func (s *Server) Stats() Stats { return s.p.Stats() }

// MaxAccepted returns the most requests the provider accepted within any
// interval of the given length; see Provider.MaxAccepted.
func (s *Server) MaxAccepted(window time.Duration) int { return s.p.MaxAccepted(window) }

// Reset forgets the provider's state; see Provider.Reset.
func (s *Server) Reset() { s.p.Reset() }
