package quota

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// MaxPeek is the most of a response body Parse reads (and puts back).
const MaxPeek = 8 << 10

// peekBody reads up to n bytes of resp.Body and replaces the body with one
// that yields those bytes and then the rest, closing the original on Close.
// A read error is kept for the caller: it is returned after the peeked bytes.
func peekBody(resp *http.Response, n int) []byte {
	buf := make([]byte, n)
	k, err := io.ReadFull(resp.Body, buf)
	buf = buf[:k]
	var rest io.Reader = resp.Body
	switch err {
	case nil:
	case io.EOF, io.ErrUnexpectedEOF:
		rest = eofReader{}
	default:
		rest = errReader{err}
	}
	resp.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(buf), rest), closer: resp.Body}
	return buf
}

// peekedBody is a response body whose start has been read and put back.
type peekedBody struct {
	io.Reader
	closer io.Closer
}

// Close closes the original body.
func (b *peekedBody) Close() error { return b.closer.Close() }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// bodyInfo is what a throttle's body says.
type bodyInfo struct {
	secondary         bool    // GitHub secondary (abuse) rate limit
	rateLimited       bool    // a 403 that says "rate limit" (GitHub primary, Google)
	insufficientQuota bool    // OpenAI insufficient_quota
	perDay            bool    // Google QuotaFailure on a per-day quota
	quotaExceeded     bool    // Azure APIM "Out of call volume quota", Salesforce REQUEST_LIMIT_EXCEEDED
	spendLimit        bool    // Anthropic credit balance / spend limit (a 400)
	lockConflict      bool    // Azure RetryableErrorDueToAnotherOperation
	throttled         bool    // Shopify GraphQL THROTTLED
	nginx             bool    // nginx's own 503 page
	reducedCapacity   bool    // IETF problem type temporary-reduced-capacity
	global            bool    // Discord "global": true
	retryAfter        float64 // seconds, when hasRetryAfter
	hasRetryAfter     bool
}

// throttleBody holds the fields of the JSON throttle bodies we know.
type throttleBody struct {
	RetryAfter *float64 `json:"retry_after"` // Discord
	Global     bool     `json:"global"`      // Discord
	Error      struct {
		Message string `json:"message"` // OpenAI "Please try again in 1.2s"
		Details []struct {
			RetryDelay string `json:"retryDelay"` // Google RetryInfo
		} `json:"details"`
	} `json:"error"`
}

// inspectBody looks for what a throttle's body says. It matches marker
// strings (the body may be cut at MaxPeek) and decodes the numbers of a
// complete JSON body.
func inspectBody(body []byte) bodyInfo {
	var b bodyInfo
	if len(body) == 0 {
		return b
	}
	s := string(body)
	lower := asciiLower(body) // same length as s, unlike strings.ToLower on invalid UTF-8
	b.secondary = strings.Contains(s, "#secondary-rate-limits") || strings.Contains(s, "#abuse-rate-limits") ||
		strings.Contains(lower, "secondary rate limit")
	b.rateLimited = strings.Contains(lower, "rate limit exceeded") || strings.Contains(s, "rateLimitExceeded") ||
		strings.Contains(s, "userRateLimitExceeded") || strings.Contains(s, "RESOURCE_EXHAUSTED")
	b.insufficientQuota = strings.Contains(s, "insufficient_quota")
	b.perDay = strings.Contains(s, "QuotaFailure") && strings.Contains(s, "PerDay")
	b.quotaExceeded = strings.Contains(s, "Out of call volume quota") || strings.Contains(s, "REQUEST_LIMIT_EXCEEDED")
	b.spendLimit = strings.Contains(lower, "credit balance is too low") || strings.Contains(lower, "spend limit")
	b.lockConflict = strings.Contains(s, "RetryableErrorDueToAnotherOperation")
	b.throttled = strings.Contains(s, `"THROTTLED"`)
	b.nginx = strings.Contains(s, "<center>nginx") && strings.Contains(s, "503")
	b.reducedCapacity = strings.Contains(s, "temporary-reduced-capacity")

	if i := strings.Index(lower, "try again in "); i >= 0 {
		word := s[i+len("try again in "):]
		j := 0
		for j < len(word) && (isDigit(word[j]) || word[j] == '.' || isLCAlpha(word[j])) {
			j++
		}
		if d, ok := parseGoDuration(strings.TrimRight(word[:j], ".")); ok {
			b.retryAfter, b.hasRetryAfter = d.Seconds(), true
		}
	}
	var tb throttleBody
	if json.Unmarshal(body, &tb) == nil {
		b.global = tb.Global
		if tb.RetryAfter != nil && *tb.RetryAfter >= 0 {
			b.retryAfter, b.hasRetryAfter = min(*tb.RetryAfter, MaxWait.Seconds()), true
		}
		for _, d := range tb.Error.Details {
			if w, ok := parseGoDuration(d.RetryDelay); ok && d.RetryDelay != "" {
				b.retryAfter, b.hasRetryAfter = w.Seconds(), true
			}
		}
	}
	return b
}

// asciiLower lowercases the ASCII letters of b, leaving every other byte as
// it is, so that indexes into the result are indexes into b.
func asciiLower(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}
