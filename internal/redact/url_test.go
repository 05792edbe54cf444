package redact

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://api.example.com/v1/x", "https://api.example.com/v1/x"},
		{"https://api.example.com/v1/x?q=go&page=2", "https://api.example.com/v1/x?q=go&page=2"},
		{"https://api.example.com/x?api_key=s3cr3t&q=go", "https://api.example.com/x?api_key=REDACTED&q=go"},
		{"https://api.example.com/x?q=go&access_token=s3cr3t&sig=abc", "https://api.example.com/x?q=go&access_token=REDACTED&sig=REDACTED"},
		{"https://api.example.com/x?API%5FKEY=s3cr3t", "https://api.example.com/x?API%5FKEY=REDACTED"},
		{"https://api.example.com/x?a=1;token=s3cr3t", "https://api.example.com/x?a=1;token=REDACTED"},
		{"https://api.example.com/x?token", "https://api.example.com/x?token"},
		{"https://user:s3cr3t@api.example.com/", "https://user:REDACTED@api.example.com/"},
		{"https://sk_live_s3cr3t@api.example.com/", "https://REDACTED@api.example.com/"},
		{"https://app.example.com/cb#access_token=s3cr3t&state=x", "https://app.example.com/cb#access_token=REDACTED&state=x"},
		{"https://app.example.com/doc#section-2", "https://app.example.com/doc#section-2"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := URL(u); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if u.String() != tt.in {
			t.Errorf("URL modified its input: %q", u)
		}
		if got := URLString(tt.in); got != tt.want {
			t.Errorf("URLString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if URL(nil) != "" {
		t.Error("URL(nil) != \"\"")
	}
}

func TestURLStringUnparsable(t *testing.T) {
	in := "http://[::1/x?api_key=s3cr3t"
	if got, want := URLString(in), "http://[::1/x?api_key=REDACTED"; got != want {
		t.Errorf("URLString(%q) = %q, want %q", in, got, want)
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"no urls here", "no urls here"},
		{`Get "https://a.example/x?key=s3cr3t": dial tcp: refused`, `Get "https://a.example/x?key=REDACTED": dial tcp: refused`},
		{"fetch https://a.example/?token=s1 then http://b.example/?q=1&secret=s2 done",
			"fetch https://a.example/?token=REDACTED then http://b.example/?q=1&secret=REDACTED done"},
		{"https://a.example/?q=1", "https://a.example/?q=1"},
		{"://?token=s3cr3t", "://?token=REDACTED"},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestError(t *testing.T) {
	sentinel := errors.New("connection refused")
	ue := &url.Error{Op: "Get", URL: "https://api.example.com/x?api_key=s3cr3t", Err: sentinel}
	wrapped := fmt.Errorf("sluice: %w", ue)

	got := Error(wrapped)
	if strings.Contains(got.Error(), "s3cr3t") {
		t.Fatalf("Error() = %q leaks the secret", got)
	}
	if want := `sluice: Get "https://api.example.com/x?api_key=REDACTED": connection refused`; got.Error() != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(got, sentinel) {
		t.Error("Error() lost the chain: errors.Is failed")
	}
	var asURL *url.Error
	if !errors.As(got, &asURL) {
		t.Error("Error() lost the chain: errors.As failed")
	}

	plain := errors.New("plain")
	if Error(plain) != plain {
		t.Error("Error() wrapped an error with nothing to redact")
	}
	if Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
}

// FuzzURL checks that for any URL, the redacted form never carries the value
// of a secret query parameter.
func FuzzURL(f *testing.F) {
	for _, s := range []string{
		"https://api.example.com/x?api_key=s3cr3t&q=go",
		"https://u:p@h/?a=1;token=t",
		"http://h/?%zz=1&key=%41",
		"https://h/#access_token=x",
		"https://h/?api%5Fkey=v&&=&token",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		out := URL(u)
		r, err := url.Parse(out)
		if err != nil {
			return
		}
		for name, vs := range r.Query() {
			if !IsSecretParam(name) {
				continue
			}
			for _, v := range vs {
				if v != Redacted && v != "" {
					t.Fatalf("URL(%q) = %q keeps %s=%q", raw, out, name, v)
				}
			}
		}
		if pw, ok := r.User.Password(); ok && pw != Redacted {
			t.Fatalf("URL(%q) = %q keeps password %q", raw, out, pw)
		}
		_ = URLString(raw)
		_ = Text(raw)
		_ = Header(http.Header{raw: {raw}})
	})
}
