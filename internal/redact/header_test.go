package redact

import (
	"net/http"
	"reflect"
	"testing"
)

func TestHeader(t *testing.T) {
	in := http.Header{
		"Authorization": {"Bearer sk-secret-1"},
		"X-Api-Key":     {"key-secret-2", "key-secret-3"},
		"Cookie":        {"session=secret-4"},
		"Accept":        {"application/json"},
		"X-Auth-Token":  {"secret-5"},
	}
	want := http.Header{
		"Authorization": {"Bearer REDACTED"},
		"X-Api-Key":     {"REDACTED", "REDACTED"},
		"Cookie":        {"REDACTED"},
		"Accept":        {"application/json"},
		"X-Auth-Token":  {"REDACTED"},
	}
	got := Header(in)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Header() = %v, want %v", got, want)
	}
	if in.Get("Authorization") != "Bearer sk-secret-1" {
		t.Fatalf("Header modified its input: %v", in)
	}
	got["Accept"][0] = "changed"
	if in.Get("Accept") != "application/json" {
		t.Fatal("Header shares value slices with its input")
	}
	if Header(nil) != nil {
		t.Fatal("Header(nil) != nil")
	}
}

func TestValue(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"Authorization", "Bearer abc", "Bearer REDACTED"},
		{"Authorization", "Basic dXNlcjpwYXNz", "Basic REDACTED"},
		{"Proxy-Authorization", "Digest username=x", "Digest REDACTED"},
		{"Authorization", "abc", "REDACTED"},
		{"Authorization", "a=b c", "REDACTED"},
		{"X-Api-Key", "Bearer abc", "REDACTED"},
		{"Accept", "text/plain", "text/plain"},
	}
	for _, tt := range tests {
		if got := Value(tt.name, tt.value); got != tt.want {
			t.Errorf("Value(%q, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}
