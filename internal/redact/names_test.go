package redact

import "testing"

func TestIsSecretHeader(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"Authorization", true},
		{"authorization", true},
		{"Proxy-Authorization", true},
		{"Cookie", true},
		{"Set-Cookie", true},
		{"X-Api-Key", true},
		{"Api-Key", true},
		{"apikey", true},
		{"X-Goog-Api-Key", true},
		{"Ocp-Apim-Subscription-Key", true},
		{"DD-API-KEY", true},
		{"X_Custom_Key", true},
		{"X-Auth-Token", true},
		{"X-Amz-Security-Token", true},
		{"Private-Token", true},
		{"X-Client-Secret", true},
		{"X-Password", true},
		{"X-Hub-Signature-256", true},
		{"X-Credential", true},
		{"X-Shopify-Access-Token", true},
		{"Key", true},
		{"", false},
		{"Openai-Organization", false},
		{"Anthropic-Version", false},
		{"Content-Type", false},
		{"Accept", false},
		{"Keep-Alive", false},
		{"Idempotency-Key", false},
		{"X-Idempotency-Key", false},
		{"Sec-WebSocket-Key", false},
		{"WWW-Authenticate", false},
		{"Proxy-Authenticate", false},
		{"X-RateLimit-Remaining-Tokens", false},
		{"anthropic-ratelimit-input-tokens-limit", false},
		{"Retry-After", false},
		{"User-Agent", false},
	}
	for _, tt := range tests {
		if got := IsSecretHeader(tt.name); got != tt.want {
			t.Errorf("IsSecretHeader(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIsSecretParam(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"key", true},
		{"KEY", true},
		{"api_key", true},
		{"api-key", true},
		{"apikey", true},
		{"apiKey", true},
		{"access_key", true},
		{"accessKey", true},
		{"access_token", true},
		{"accessToken", true},
		{"token", true},
		{"refresh_token", true},
		{"oauth_token", true},
		{"secret", true},
		{"client_secret", true},
		{"sig", true},
		{"x_sig", true},
		{"signature", true},
		{"X-Amz-Signature", true},
		{"X-Amz-Credential", true},
		{"X-Amz-Security-Token", true},
		{"password", true},
		{"passwd", true},
		{"pwd", true},
		{"auth", true},
		{"auth_token", true},
		{"authorization", true},
		{"basic_auth", true},
		{"jwt", true},
		{"session", true},
		{"sessionid", true},
		{"", false},
		{"q", false},
		{"page", false},
		{"per_page", false},
		{"author", false},
		{"authors", false},
		{"sort", false},
		{"monkey", false},
		{"pageToken", false},
		{"page_token", false},
		{"next_page_token", false},
		{"idempotency_key", false},
		{"signal", false},
		{"design", false},
	}
	for _, tt := range tests {
		if got := IsSecretParam(tt.name); got != tt.want {
			t.Errorf("IsSecretParam(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func BenchmarkIsSecretHeader(b *testing.B) {
	names := []string{"Accept", "Content-Type", "User-Agent", "X-Api-Key", "Authorization"}
	for b.Loop() {
		for _, n := range names {
			IsSecretHeader(n)
		}
	}
}
