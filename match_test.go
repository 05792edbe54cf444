package sluice

import (
	"net/http/httptest"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		m      Match
		method string
		url    string
		want   bool
	}{
		{Match{}, "GET", "https://x.com/a", true},
		{Match{Host: "api.github.com"}, "GET", "https://API.github.com:443/x", true},
		{Match{Host: "api.github.com"}, "GET", "https://github.com/x", false},
		{Match{Host: "*.example.com"}, "GET", "https://a.b.example.com/", true},
		{Match{Host: "*.example.com"}, "GET", "https://example.com/", false},
		{Match{Path: "/v1/"}, "GET", "https://x/v1/chat", true},
		{Match{Path: "/v1/"}, "GET", "https://x/v2/chat", false},
		{Match{Path: "/repos/*/*/issues"}, "GET", "https://x/repos/a/b/issues", true},
		{Match{Path: "/repos/*/*/issues"}, "GET", "https://x/repos/a/issues", false},
		{Match{Path: "/repos/*/*/issues"}, "GET", "https://x/repos/a/b/issues/1", false},
		{Match{Path: "/repos/*/*/issues"}, "GET", "https://x/repos//b/issues", false},
		{Match{Path: "/v1/**"}, "GET", "https://x/v1/a/b/c", true},
		{Match{Path: "/v1/*/**"}, "GET", "https://x/v1/a", true},
		{Match{Path: "/v1/**"}, "GET", "https://x/v2/a", false},
		{Match{Methods: []string{"POST"}}, "GET", "https://x/", false},
		{Match{Methods: []string{"POST", "GET"}}, "GET", "https://x/", true},
	}
	for _, tt := range tests {
		c := compileMatch(tt.m)
		req := httptest.NewRequest(tt.method, tt.url, nil)
		if got := c.matches(req, requestHost(req)); got != tt.want {
			t.Errorf("%+v matches %s %s = %v, want %v", tt.m, tt.method, tt.url, got, tt.want)
		}
	}
}
