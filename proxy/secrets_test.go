package proxy

import (
	"strings"
	"testing"
)

// TestBadSecretsRefusedAtStart: a credential or token that could not be
// used (unset, empty, or with a line break inside) stops New with an error
// naming the entry, not every request later.
func TestBadSecretsRefusedAtStart(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"unset", "", "PROVIDER_KEY is empty or unset"},
		{"line break", "sk-one\nsk-two", "control character"},
		{"NUL", "sk\x00x", "control character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"ALICE": aliceToken, "PROVIDER_KEY": tc.key}
			_, err := New(Config{
				Consumers: []Consumer{{Name: "alice", TokenEnv: "ALICE"}},
				Upstreams: []Upstream{{Name: "up", Prefix: "/up", Target: "http://127.0.0.1:9", Credential: &Credential{Env: "PROVIDER_KEY"}}},
				Getenv:    func(k string) string { return env[k] },
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "upstreams[0] (up)") {
				t.Fatalf("error %v; want one naming upstreams[0] (up) and %q", err, tc.want)
			}
			if tc.key != "" && strings.Contains(err.Error(), tc.key) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}
