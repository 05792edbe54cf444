package sluicetest

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
)

// Touch changes the resource at path (a URL path such as "/repos/o/r"), so
// that its ETag changes and conditional requests naming the old one get a
// full answer again (see Options.ETags).
func (p *Provider) Touch(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.etags[path]++
}

// conditional returns the ETag of a GET or HEAD under Options.ETags, and
// whether the request's If-None-Match names it.
func (p *Provider) conditional(r *http.Request) (etag string, match bool) {
	if !p.opts.ETags || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return "", false
	}
	p.mu.Lock()
	v := p.etags[r.URL.Path]
	p.mu.Unlock()
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s\x00%d", r.URL.Path, v)
	etag = fmt.Sprintf(`W/"%016x"`, h.Sum64())
	return etag, etagMatch(r.Header.Get("If-None-Match"), etag)
}

// etagMatch reports whether an If-None-Match list names etag, by the weak
// comparison RFC 9110 asks for ("*" matches any).
func etagMatch(list, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for c := range strings.SplitSeq(list, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || strings.TrimPrefix(c, "W/") == want {
			return true
		}
	}
	return false
}
