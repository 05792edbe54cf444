package httpcache

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/redact"
)

// processKeyer keys the credential fingerprints of Key and
// KeyWithCredentials with a random salt. It is set once when the package is
// initialised and only read afterwards, so those fingerprints cannot be
// computed (or reversed by guessing) outside the process, and keys are
// stable for the process's lifetime.
var processKeyer = NewKeyer(nil)

// Keyer computes cache keys whose credential fingerprints are keyed by a
// secret salt: HMAC-SHA256 with the salt as the key, cut to 128 bits.
// Processes that share a store (rediscache) must share the salt so that
// they compute the same keys; the store then holds only keyed hashes of
// credentials, which cannot be checked against a guessed credential
// without the salt. A Keyer is immutable and safe for concurrent use.
type Keyer struct {
	ipad, opad [sha256.BlockSize]byte // HMAC pads of the salt's digest
}

// NewKeyer returns a Keyer keyed by salt. An empty salt means a random
// one, so keys are then stable within the process only. The salt is
// hashed to 32 bytes, so any length works; use at least 16 random bytes.
func NewKeyer(salt []byte) *Keyer {
	var k [32]byte
	if len(salt) == 0 {
		rand.Read(k[:]) // never fails (crypto/rand documents it panics instead)
	} else {
		k = sha256.Sum256(salt)
	}
	kr := &Keyer{}
	for i := range kr.ipad {
		var b byte
		if i < len(k) {
			b = k[i]
		}
		kr.ipad[i], kr.opad[i] = b^0x36, b^0x5c
	}
	return kr
}

// Cacheable reports whether req may be answered from the cache or stored
// in it: a GET or HEAD without a body, without a Range header and without
// "Cache-Control: no-store".
func Cacheable(req *http.Request) bool {
	if req == nil || req.URL == nil || (req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != "") {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	if _, ok := req.Header["Range"]; ok {
		return false
	}
	return !hasDirective(req.Header, "no-store")
}

// Key returns the cache and coalescing key of req: the method, the
// canonical URL, the values of the vary headers, and a fingerprint of the
// request's credentials.
//
// The canonical URL has its scheme and host lower-cased, the scheme's
// default port dropped, an empty path written "/", no fragment, no user
// info, and its query parameters decoded, sorted by name then value and
// re-encoded. The Host header is included when it differs from the URL's
// host.
//
// Credentials are the user info of the URL, every header that
// internal/redact treats as secret (Authorization, Proxy-Authorization,
// Cookie, X-Api-Key, Api-Key, *-Key, *Token*, ...) and every query
// parameter named like one (api_key, key, token, access_token, sig, ...).
// They are removed from the URL part and replaced by a fingerprint:
// HMAC-SHA256, keyed by a random per-process salt, of the sorted names and
// values, truncated to 128 bits (Keyer.Key takes the salt from the caller). No credential value appears in a key, and two requests that
// differ only in a credential get different keys. A vary header that is
// itself a credential is covered by the fingerprint, not written out.
//
// Keys are deterministic within a process and differ between processes.
func Key(req *http.Request, vary []string) string {
	return processKeyer.Key(req, vary, nil)
}

// KeyWithCredentials is Key with more credential headers: the headers
// named in credentials (e.g. X-Session-Id, X-Tenant) are treated like the
// secret headers, folded into the fingerprint, so that requests differing
// in them never share a key and their values never appear in it.
func KeyWithCredentials(req *http.Request, vary, credentials []string) string {
	return processKeyer.Key(req, vary, credentials)
}

// Key returns the key of req like KeyWithCredentials, with the credential
// fingerprint keyed by k's salt: two Keyers made with the same salt give
// the same keys, in any process.
func (k *Keyer) Key(req *http.Request, vary, credentials []string) string {
	if req == nil || req.URL == nil {
		return ""
	}
	var b strings.Builder
	b.Grow(len(req.Method) + len(req.URL.Scheme) + len(req.URL.Host) + len(req.URL.Path) + len(req.URL.RawQuery) + 64)
	var credBuf [8]cred
	creds := credBuf[:0]
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	b.WriteString(method)
	b.WriteByte(' ')
	creds = writeURL(&b, req.URL, creds)
	if req.Host != "" && !strings.EqualFold(req.Host, req.URL.Host) {
		b.WriteString("\nhost:")
		writeHost(&b, strings.ToLower(req.Host))
	}
	writeVary(&b, req.Header, vary, credentials)
	for name, values := range req.Header {
		if redact.IsSecretHeader(name) || containsFold(credentials, name) {
			for _, v := range values {
				creds = append(creds, cred{'h', name, v})
			}
		}
	}
	if len(creds) > 0 {
		b.WriteString(credMark)
		k.writeFingerprint(&b, creds)
	}
	return b.String()
}

// cred is one credential: kind 'h' (header), 'q' (query parameter) or 'u'
// (URL user info), its name and its value.
type cred struct {
	kind        byte
	name, value string
}

// writeURL writes the canonical form of u to b and returns creds with the
// credentials found in u appended.
func writeURL(b *strings.Builder, u *url.URL, creds []cred) []cred {
	scheme := strings.ToLower(u.Scheme)
	b.WriteString(scheme)
	b.WriteString("://")
	if u.User != nil {
		creds = append(creds, cred{'u', "", u.User.String()})
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (port == "80" && scheme == "http") || (port == "443" && scheme == "https") {
		host = host[:len(host)-len(port)-1]
	}
	b.WriteString(host)
	if u.Opaque != "" {
		b.WriteString(u.Opaque)
	} else if p := u.EscapedPath(); p != "" {
		b.WriteString(p)
	} else {
		b.WriteByte('/')
	}
	if u.RawQuery == "" {
		return creds
	}
	var paramBuf [16]param
	params := paramBuf[:0]
	for part := range strings.SplitSeq(u.RawQuery, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		name, value = unescape(name), unescape(value)
		if redact.IsSecretParam(name) {
			creds = append(creds, cred{'q', name, value})
			continue
		}
		params = append(params, param{name, value})
	}
	slices.SortFunc(params, compareParams)
	for i, p := range params {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.value))
	}
	return creds
}

type param struct{ name, value string }

func compareParams(x, y param) int {
	if c := strings.Compare(x.name, y.name); c != 0 {
		return c
	}
	return strings.Compare(x.value, y.value)
}

// unescape decodes a query component, or returns it as is when it is not
// valid percent-encoding.
func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// writeVary writes the values of the named headers, by sorted canonical
// name, skipping credentials and duplicates.
func writeVary(b *strings.Builder, h http.Header, vary, credentials []string) {
	if len(vary) == 0 {
		return
	}
	names := make([]string, 0, len(vary))
	for _, n := range vary {
		if n = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(n)); n != "" && !redact.IsSecretHeader(n) && !containsFold(credentials, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, n := range names {
		b.WriteString("\n")
		b.WriteString(n)
		b.WriteByte(':')
		for i, v := range h[n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(v))
		}
	}
}

// credMark starts the credential fingerprint in a key.
const credMark = "\ncred:"

// fingerprintLen is the length of a fingerprint in a key: 128 bits in hex.
const fingerprintLen = 32

// Partition returns the credential fingerprint in key (a key from Key,
// KeyWithCredentials, Keyer.Key or VariantKey), or "" when the request had
// no credential. Shared stores partition entries by it, so that one
// credential's entries can be told apart (and removed) without knowing the
// credential.
func Partition(key string) string {
	i := strings.LastIndex(key, credMark)
	if i < 0 || len(key) < i+len(credMark)+fingerprintLen {
		return ""
	}
	fp := key[i+len(credMark) : i+len(credMark)+fingerprintLen]
	if rest := key[i+len(credMark)+fingerprintLen:]; rest != "" && rest[0] != '\n' {
		return ""
	}
	for j := 0; j < len(fp); j++ {
		if c := fp[j]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return fp
}

// writeHost writes a Host header value, quoted when it holds a control
// character, so that no header value can forge a part of the key.
func writeHost(b *strings.Builder, h string) {
	for i := 0; i < len(h); i++ {
		if h[i] < 0x20 || h[i] == 0x7f {
			b.WriteString(strconv.Quote(h))
			return
		}
	}
	b.WriteString(h)
}

// writeFingerprint writes the keyed hash of the sorted credentials
// (HMAC-SHA256 keyed by k's salt, cut to 128 bits), in hex, to b. Header
// names are compared case-insensitively.
func (k *Keyer) writeFingerprint(b *strings.Builder, creds []cred) {
	slices.SortFunc(creds, compareCreds)
	var stack [512]byte
	buf := append(stack[:0], k.ipad[:]...)
	for _, c := range creds {
		// Length-prefixed fields, so no two lists hash the same input.
		buf = append(buf, c.kind)
		buf = strconv.AppendInt(buf, int64(len(c.name)), 10)
		buf = append(buf, ':')
		for i := 0; i < len(c.name); i++ {
			buf = append(buf, lower(c.name[i]))
		}
		buf = strconv.AppendInt(buf, int64(len(c.value)), 10)
		buf = append(buf, ':')
		buf = append(buf, c.value...)
	}
	inner := sha256.Sum256(buf)
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], k.opad[:])
	copy(outer[sha256.BlockSize:], inner[:])
	sum := sha256.Sum256(outer[:])
	var out [fingerprintLen]byte
	hex.Encode(out[:], sum[:16])
	b.Write(out[:])
}

// containsFold reports whether names holds name, ignoring ASCII case.
func containsFold(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(strings.TrimSpace(n), name) {
			return true
		}
	}
	return false
}

// compareFold compares ASCII strings as if lower-cased.
func compareFold(x, y string) int {
	for i := 0; i < len(x) && i < len(y); i++ {
		a, b := lower(x[i]), lower(y[i])
		if a != b {
			return int(a) - int(b)
		}
	}
	return len(x) - len(y)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func compareCreds(x, y cred) int {
	if x.kind != y.kind {
		return int(x.kind) - int(y.kind)
	}
	if c := compareFold(x.name, y.name); c != 0 {
		return c
	}
	return strings.Compare(x.value, y.value)
}

// hasDirective reports whether the Cache-Control header of h has the
// directive name (lower case), ignoring case and any argument.
func hasDirective(h http.Header, name string) bool {
	_, ok := directive(h, name)
	return ok
}

// directive returns the argument of the Cache-Control directive name (lower
// case) in h, unquoted, and whether it is present.
func directive(h http.Header, name string) (string, bool) {
	for _, line := range h["Cache-Control"] {
		for d := range strings.SplitSeq(line, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(d), "=")
			if strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.Trim(strings.TrimSpace(v), `"`), true
			}
		}
	}
	return "", false
}
