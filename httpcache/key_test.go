package httpcache

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func newReq(t testing.TB, method, rawURL string, kv ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	return req
}

func TestCacheable(t *testing.T) {
	tests := []struct {
		name string
		req  *http.Request
		want bool
	}{
		{"get", newReq(t, "GET", "https://a.example/x"), true},
		{"head", newReq(t, "HEAD", "https://a.example/x"), true},
		{"post", newReq(t, "POST", "https://a.example/x"), false},
		{"delete", newReq(t, "DELETE", "https://a.example/x"), false},
		{"no-store", newReq(t, "GET", "https://a.example/x", "Cache-Control", "No-Store"), false},
		{"max-age is fine", newReq(t, "GET", "https://a.example/x", "Cache-Control", "max-age=0"), true},
		{"range", newReq(t, "GET", "https://a.example/x", "Range", "bytes=0-10"), false},
		{"nil", nil, false},
	}
	withBody, _ := http.NewRequest("GET", "https://a.example/x", strings.NewReader("q"))
	tests = append(tests, struct {
		name string
		req  *http.Request
		want bool
	}{"get with body", withBody, false})
	for _, tt := range tests {
		if got := Cacheable(tt.req); got != tt.want {
			t.Errorf("%s: Cacheable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestKeyCanonical(t *testing.T) {
	tests := []struct {
		name string
		a, b *http.Request
		vary []string
		same bool
	}{
		{"host case", newReq(t, "GET", "https://API.Example.com/x"), newReq(t, "GET", "https://api.example.com/x"), nil, true},
		{"scheme case", newReq(t, "GET", "HTTPS://api.example.com/x"), newReq(t, "GET", "https://api.example.com/x"), nil, true},
		{"https default port", newReq(t, "GET", "https://api.example.com:443/x"), newReq(t, "GET", "https://api.example.com/x"), nil, true},
		{"http default port", newReq(t, "GET", "http://api.example.com:80/x"), newReq(t, "GET", "http://api.example.com/x"), nil, true},
		{"other port", newReq(t, "GET", "https://api.example.com:8443/x"), newReq(t, "GET", "https://api.example.com/x"), nil, false},
		{"port 80 on https kept", newReq(t, "GET", "https://api.example.com:80/x"), newReq(t, "GET", "https://api.example.com/x"), nil, false},
		{"ipv6 default port", newReq(t, "GET", "https://[::1]:443/x"), newReq(t, "GET", "https://[::1]/x"), nil, true},
		{"empty path", newReq(t, "GET", "https://api.example.com"), newReq(t, "GET", "https://api.example.com/"), nil, true},
		{"query order", newReq(t, "GET", "https://a.example/x?b=2&a=1&a=0"), newReq(t, "GET", "https://a.example/x?a=0&a=1&b=2"), nil, true},
		{"query encoding", newReq(t, "GET", "https://a.example/x?q=a%20b"), newReq(t, "GET", "https://a.example/x?q=a+b"), nil, true},
		{"query value", newReq(t, "GET", "https://a.example/x?a=1"), newReq(t, "GET", "https://a.example/x?a=2"), nil, false},
		{"fragment", newReq(t, "GET", "https://a.example/x#top"), newReq(t, "GET", "https://a.example/x"), nil, true},
		{"opaque", &http.Request{Method: "GET", URL: &url.URL{Scheme: "https", Host: "a.example", Opaque: "//a.example/x"}}, &http.Request{Method: "GET", URL: &url.URL{Scheme: "https", Host: "a.example", Opaque: "//a.example/y"}}, nil, false},
		{"path case", newReq(t, "GET", "https://a.example/X"), newReq(t, "GET", "https://a.example/x"), nil, false},
		{"method", newReq(t, "HEAD", "https://a.example/x"), newReq(t, "GET", "https://a.example/x"), nil, false},
		{"scheme", newReq(t, "GET", "http://a.example/x"), newReq(t, "GET", "https://a.example/x"), nil, false},
		{"unnamed header ignored", newReq(t, "GET", "https://a.example/x", "Accept", "text/csv"), newReq(t, "GET", "https://a.example/x"), nil, true},
		{"vary header counts", newReq(t, "GET", "https://a.example/x", "Accept", "text/csv"), newReq(t, "GET", "https://a.example/x", "Accept", "application/json"), []string{"accept"}, false},
		{"vary order and case", newReq(t, "GET", "https://a.example/x", "Accept", "a", "X-Lang", "en"), newReq(t, "GET", "https://a.example/x", "X-Lang", "en", "Accept", "a"), []string{"x-lang", "ACCEPT", "Accept"}, true},
		{"vary value split", newReq(t, "GET", "https://a.example/x", "Accept", "a,b"), newReq(t, "GET", "https://a.example/x", "Accept", "a", "Accept", "b"), []string{"Accept"}, false},
	}
	for _, tt := range tests {
		ka, kb := Key(tt.a, tt.vary), Key(tt.b, tt.vary)
		if (ka == kb) != tt.same {
			t.Errorf("%s: keys\n%q\n%q\nsame = %v, want %v", tt.name, ka, kb, ka == kb, tt.same)
		}
	}
	if k := Key(newReq(t, "GET", "https://API.example.com:443?b=2&a=1"), nil); k != "GET https://api.example.com/?a=1&b=2" {
		t.Errorf("canonical key = %q", k)
	}
}

func TestKeyCredentials(t *testing.T) {
	const u = "https://api.example.com/v1/items?page=2"
	tests := []struct {
		name    string
		a, b    *http.Request
		secretA string // must not appear in A's key
		vary    []string
	}{
		{"bearer", newReq(t, "GET", u, "Authorization", "Bearer sk-alice-111"), newReq(t, "GET", u, "Authorization", "Bearer sk-bob-222"), "sk-alice-111", nil},
		{"bearer vs none", newReq(t, "GET", u, "Authorization", "Bearer sk-alice-111"), newReq(t, "GET", u), "sk-alice-111", nil},
		{"proxy auth", newReq(t, "GET", u, "Proxy-Authorization", "Basic YWxpY2U6eA=="), newReq(t, "GET", u, "Proxy-Authorization", "Basic Ym9iOnk="), "YWxpY2U6eA==", nil},
		{"cookie", newReq(t, "GET", u, "Cookie", "session=alice-cookie"), newReq(t, "GET", u, "Cookie", "session=bob-cookie"), "alice-cookie", nil},
		{"x-api-key", newReq(t, "GET", u, "X-Api-Key", "key-alice-1"), newReq(t, "GET", u, "X-Api-Key", "key-bob-2"), "key-alice-1", nil},
		{"api-key", newReq(t, "GET", u, "Api-Key", "key-alice-1"), newReq(t, "GET", u, "Api-Key", "key-bob-2"), "key-alice-1", nil},
		{"private-token", newReq(t, "GET", u, "Private-Token", "glpat-alice"), newReq(t, "GET", u, "Private-Token", "glpat-bob"), "glpat-alice", nil},
		{"subscription key", newReq(t, "GET", u, "Ocp-Apim-Subscription-Key", "sub-alice"), newReq(t, "GET", u, "Ocp-Apim-Subscription-Key", "sub-bob"), "sub-alice", nil},
		{"same value other header", newReq(t, "GET", u, "X-Api-Key", "same-secret-1"), newReq(t, "GET", u, "Api-Key", "same-secret-1"), "same-secret-1", nil},
		{"vary on a credential", newReq(t, "GET", u, "Authorization", "Bearer sk-alice-111"), newReq(t, "GET", u, "Authorization", "Bearer sk-bob-222"), "sk-alice-111", []string{"Authorization"}},
		{"api_key param", newReq(t, "GET", u+"&api_key=qk-alice"), newReq(t, "GET", u+"&api_key=qk-bob"), "qk-alice", nil},
		{"key param", newReq(t, "GET", u+"&key=AIza-alice"), newReq(t, "GET", u+"&key=AIza-bob"), "AIza-alice", nil},
		{"access_token param", newReq(t, "GET", u+"&access_token=at-alice"), newReq(t, "GET", u+"&access_token=at-bob"), "at-alice", nil},
		{"token param", newReq(t, "GET", u+"&token=tk-alice"), newReq(t, "GET", u+"&token=tk-bob"), "tk-alice", nil},
		{"encoded param name", newReq(t, "GET", u+"&api%5Fkey=qk-alice"), newReq(t, "GET", u+"&api_key=qk-bob"), "qk-alice", nil},
		{"user info", newReq(t, "GET", "https://alice:pw-alice@api.example.com/v1"), newReq(t, "GET", "https://bob:pw-bob@api.example.com/v1"), "pw-alice", nil},
	}
	for _, tt := range tests {
		ka, kb := Key(tt.a, tt.vary), Key(tt.b, tt.vary)
		if ka == kb {
			t.Errorf("%s: same key %q for different credentials", tt.name, ka)
		}
		if strings.Contains(ka, tt.secretA) {
			t.Errorf("%s: key %q holds the credential", tt.name, ka)
		}
		if ka != Key(tt.a, tt.vary) {
			t.Errorf("%s: key not deterministic", tt.name)
		}
	}
	// The credential is a fingerprint, not a change of the URL part.
	a := Key(newReq(t, "GET", u+"&api_key=qk-alice", "X-Api-Key", "k"), nil)
	if !strings.HasPrefix(a, "GET https://api.example.com/v1/items?page=2\ncred:") {
		t.Errorf("key = %q, want the URL without the key param, then the fingerprint", a)
	}
	// Non-credential look-alikes stay in the URL.
	if k := Key(newReq(t, "GET", u+"&page_token=next-1", "Idempotency-Key", "i-1"), nil); strings.Contains(k, "cred:") || !strings.Contains(k, "page_token=next-1") {
		t.Errorf("page_token or Idempotency-Key treated as a credential: %q", k)
	}
}

func TestKeyNoPanic(t *testing.T) {
	for _, r := range []*http.Request{nil, {}, {URL: &url.URL{}}, {URL: &url.URL{RawQuery: "%zz=&&=&a=%"}}} {
		_ = Key(r, []string{"", " ", "x"})
	}
}

func FuzzKey(f *testing.F) {
	f.Add("https://API.example.com:443/a/b?x=1&api_key=secretvalue1", "secretvalue2", "Accept", "text/plain")
	f.Add("http://h/%zz?;=&&a", "v", "", "")
	f.Add("https://u:p@[::1]:80/?token=%41", "Bearer x", "X-Token", "y")
	f.Fuzz(func(t *testing.T, rawURL, secret, name, value string) {
		u, err := url.Parse(rawURL)
		if err != nil {
			return
		}
		req := &http.Request{Method: "GET", URL: u, Header: http.Header{}}
		if name != "" {
			req.Header[name] = []string{value}
		}
		vary := []string{name, "Accept"}
		plain := Key(req, vary)
		if plain != Key(req, vary) {
			t.Fatalf("not deterministic for %q", rawURL)
		}
		req.Header["X-Api-Key"] = []string{secret}
		withKey := Key(req, vary)
		if withKey == plain {
			t.Fatalf("an X-Api-Key did not change the key %q", plain)
		}
		if len(secret) >= 6 && !strings.Contains(plain, secret) && strings.Contains(withKey, secret) {
			t.Fatalf("key %q holds the credential %q", withKey, secret)
		}
	})
}

func BenchmarkKey(b *testing.B) {
	req := newReq(b, "GET", "https://api.example.com/v1/items?page=2&per_page=100&sort=created",
		"Authorization", "Bearer sk-0123456789abcdef", "Accept", "application/json")
	vary := []string{"Accept"}
	b.ReportAllocs()
	for b.Loop() {
		_ = Key(req, vary)
	}
}

func BenchmarkKeyNoCredential(b *testing.B) {
	req := newReq(b, "GET", "https://api.example.com/v1/items?page=2", "Accept", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		_ = Key(req, nil)
	}
}

func TestKeyManyCredentialsStable(t *testing.T) {
	req := newReq(t, "GET", "https://a.example/x?token=t1&api_key=k1", "Authorization", "Bearer a", "X-Api-Key", "b", "Cookie", "c=1", "Private-Token", "d")
	want := Key(req, nil)
	for range 50 { // header map order varies between iterations
		if got := Key(req, nil); got != want {
			t.Fatalf("key changed: %q then %q", want, got)
		}
	}
	// A header set under a non-canonical name is the same credential.
	raw := newReq(t, "GET", "https://a.example/x?token=t1&api_key=k1", "Authorization", "Bearer a", "Cookie", "c=1", "Private-Token", "d")
	raw.Header["x-api-key"] = []string{"b"}
	if got := Key(raw, nil); got != want {
		t.Errorf("non-canonical header name changed the key: %q vs %q", got, want)
	}
}

// TestKeyWithCredentials: a declared credential header separates keys like
// a secret header does, and its value never appears in the key.
func TestKeyWithCredentials(t *testing.T) {
	mk := func(session string) *http.Request {
		r := newReq(t, "GET", "https://api.example.com/me")
		r.Header.Set("X-Session-Id", session)
		return r
	}
	a, b := mk("alice-session"), mk("bob-session")
	if Key(a, nil) != Key(b, nil) {
		t.Fatal("without the declaration the header is not part of the key (test premise)")
	}
	ka := KeyWithCredentials(a, []string{"X-Session-Id"}, []string{"x-session-id"})
	kb := KeyWithCredentials(b, nil, []string{"x-session-id"})
	if ka == kb {
		t.Fatal("requests differing in a declared credential header share a key")
	}
	if strings.Contains(ka, "alice-session") {
		t.Fatalf("key %q holds the credential", ka)
	}
}
