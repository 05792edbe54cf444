package sluice

import (
	"net/http"
	"net/url"
	"strings"
)

// matcher is a compiled Match.
type matcher struct {
	host       string // exact host, lower case; "" = any
	hostSuffix string // ".example.com" for "*.example.com"
	prefix     string // path prefix when the pattern has no '*'
	segs       []string
	rest       bool // pattern ends in "/**"
	methods    map[string]bool
}

func compileMatch(m Match) matcher {
	var c matcher
	h := strings.ToLower(m.Host)
	if suffix, ok := strings.CutPrefix(h, "*"); ok {
		c.hostSuffix = suffix
	} else {
		c.host = h
	}
	switch {
	case strings.Contains(m.Path, "*"):
		p := m.Path
		if trimmed, ok := strings.CutSuffix(p, "/**"); ok {
			c.rest = true
			p = trimmed
		}
		c.segs = strings.Split(strings.TrimPrefix(p, "/"), "/")
	default:
		c.prefix = m.Path
	}
	if len(m.Methods) > 0 {
		c.methods = make(map[string]bool, len(m.Methods))
		for _, meth := range m.Methods {
			c.methods[meth] = true
		}
	}
	return c
}

// requestHost returns req's host in lower case without the port.
func requestHost(req *http.Request) string {
	u := req.URL
	if u.Host == "" {
		u = &url.URL{Host: req.Host}
	}
	h := u.Hostname()
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

func (c *matcher) matches(req *http.Request, host string) bool {
	if c.methods != nil && !c.methods[req.Method] {
		return false
	}
	switch {
	case c.host != "" && host != c.host:
		return false
	case c.hostSuffix != "" && !strings.HasSuffix(host, c.hostSuffix):
		return false
	}
	path := req.URL.Path
	if c.segs == nil {
		return strings.HasPrefix(path, c.prefix)
	}
	return c.matchSegments(strings.TrimPrefix(path, "/"))
}

func (c *matcher) matchSegments(path string) bool {
	for i, seg := range c.segs {
		part, rest, more := strings.Cut(path, "/")
		if seg == "*" && part == "" || seg != "*" && part != seg {
			return false
		}
		path = rest
		if !more {
			return i == len(c.segs)-1
		}
	}
	return c.rest
}
