package sluice

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/redact"
)

// maxMessage bounds the provider message quoted in an error.
const maxMessage = 200

// providerMessage returns the provider's own explanation of a failed
// response: the "message" of a JSON body in the shapes GitHub, OpenAI,
// Anthropic, Stripe, Shopify and most REST APIs use ({"message": ...},
// {"error": {"message": ...}}, {"error": "..."}, {"errors": [{"message":
// ...}]}), or the first line of a text body; "" for HTML or nothing
// usable. It is bounded (maxMessage bytes) and redacted: URLs lose their
// secrets and credential-like words are replaced.
func providerMessage(h http.Header, body []byte) string {
	body = []byte(strings.TrimSpace(string(body)))
	if len(body) == 0 {
		return ""
	}
	var msg string
	if body[0] == '{' {
		msg = jsonMessage(body)
	} else if ct := h.Get("Content-Type"); !strings.Contains(ct, "html") && body[0] != '<' && utf8.Valid(body) {
		msg, _, _ = strings.Cut(string(body), "\n")
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		return ""
	}
	msg = secretWord.ReplaceAllString(redact.Text(msg), redact.Redacted)
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// jsonMessage finds the message in a JSON error body.
func jsonMessage(body []byte) string {
	var v struct {
		Message any `json:"message"`
		Error   any `json:"error"`
		Errors  any `json:"errors"`
		Detail  any `json:"detail"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	for _, f := range []any{v.Message, v.Error, v.Errors, v.Detail} {
		if m := messageIn(f, 0); m != "" {
			return m
		}
	}
	return ""
}

// messageIn returns a string, or the "message" of an object, or that of
// the first element of an array.
func messageIn(v any, depth int) string {
	if depth > 3 {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		for _, k := range []string{"message", "detail", "error_description", "error"} {
			if m := messageIn(x[k], depth+1); m != "" {
				return m
			}
		}
	case []any:
		if len(x) > 0 {
			return messageIn(x[0], depth+1)
		}
	}
	return ""
}

// secretWord matches the forms API keys and tokens take in text: known
// prefixes (sk-, sk_live_, rk_live_, ghp_, github_pat_, xoxb-, AKIA...),
// a bearer credential, and any long unbroken run of key characters.
var secretWord = regexp.MustCompile(`(?i)\b(?:bearer\s+\S+|(?:sk|rk|pk)[-_][A-Za-z0-9_\-*]{6,}|(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{6,}|xox[abprs]-[A-Za-z0-9\-]{6,}|AKIA[A-Z0-9]{12,}|[A-Za-z0-9_\-]{32,})`)
