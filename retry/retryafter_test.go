package retry

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	// The server's clock: 1994-11-06 08:49:37 UTC, as in RFC 9110's examples.
	server := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	const serverDate = "Sun, 06 Nov 1994 08:49:37 GMT"
	skewed := server.Add(time.Hour) // a local clock one hour fast
	tests := []struct {
		name    string
		headers map[string]string
		now     time.Time
		want    time.Duration
		ok      bool
	}{
		{"absent", nil, server, 0, false},
		{"empty", map[string]string{"Retry-After": " "}, server, 0, false},
		{"seconds", map[string]string{"Retry-After": "120"}, server, 120 * time.Second, true},
		{"seconds with spaces", map[string]string{"Retry-After": " 5 "}, server, 5 * time.Second, true},
		{"zero", map[string]string{"Retry-After": "0"}, server, 0, true},
		{"fractional 2.0", map[string]string{"Retry-After": "2.0"}, server, 2 * time.Second, true},
		{"fractional 0.25", map[string]string{"Retry-After": "0.25"}, server, 250 * time.Millisecond, true},
		{"leading dot", map[string]string{"Retry-After": ".5"}, server, 500 * time.Millisecond, true},
		{"negative clamps", map[string]string{"Retry-After": "-5"}, server, 0, true},
		{"huge capped", map[string]string{"Retry-After": "1000000000"}, server, MaxServerDelay, true},
		{"beyond float capped", map[string]string{"Retry-After": "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"}, server, MaxServerDelay, true},
		{"garbage", map[string]string{"Retry-After": "soon"}, server, 0, false},
		{"unit suffix", map[string]string{"Retry-After": "10s"}, server, 0, false},
		{"exponent", map[string]string{"Retry-After": "1e3"}, server, 0, false},
		{"inf", map[string]string{"Retry-After": "Inf"}, server, 0, false},
		{"plus sign", map[string]string{"Retry-After": "+5"}, server, 0, false},
		{"two dots", map[string]string{"Retry-After": "1.2.3"}, server, 0, false},
		{"lone dot", map[string]string{"Retry-After": "."}, server, 0, false},
		{"lone minus", map[string]string{"Retry-After": "-"}, server, 0, false},
		{"IMF-fixdate", map[string]string{"Retry-After": "Sun, 06 Nov 1994 08:50:07 GMT"}, server, 30 * time.Second, true},
		{"RFC 850", map[string]string{"Retry-After": "Sunday, 06-Nov-94 08:50:07 GMT"}, server, 30 * time.Second, true},
		{"asctime", map[string]string{"Retry-After": "Sun Nov  6 08:50:07 1994"}, server, 30 * time.Second, true},
		{"past date", map[string]string{"Retry-After": "Sun, 06 Nov 1994 08:00:00 GMT"}, server, 0, true},
		{"date years ahead capped", map[string]string{"Retry-After": "Fri, 31 Dec 2999 23:59:59 GMT"}, server, MaxServerDelay, true},
		{"skewed clock without Date", map[string]string{"Retry-After": "Sun, 06 Nov 1994 08:50:07 GMT"}, skewed, 0, true},
		{"skewed clock with Date", map[string]string{"Retry-After": "Sun, 06 Nov 1994 08:50:07 GMT", "Date": serverDate}, skewed, 30 * time.Second, true},
		{"bad Date falls back to now", map[string]string{"Retry-After": "Sun, 06 Nov 1994 08:50:07 GMT", "Date": "yesterday"}, server, 30 * time.Second, true},
		{"bad date", map[string]string{"Retry-After": "Sun, 32 Nov 1994 08:50:07 GMT"}, server, 0, false},
		{"retry-after-ms", map[string]string{"Retry-After-Ms": "1500"}, server, 1500 * time.Millisecond, true},
		{"retry-after-ms fractional", map[string]string{"Retry-After-Ms": "2.5"}, server, 2500 * time.Microsecond, true},
		{"x-ms-retry-after-ms", map[string]string{"X-Ms-Retry-After-Ms": "250"}, server, 250 * time.Millisecond, true},
		{"ms beats seconds", map[string]string{"Retry-After-Ms": "1500", "Retry-After": "2"}, server, 1500 * time.Millisecond, true},
		{"retry-after-ms beats x-ms", map[string]string{"Retry-After-Ms": "100", "X-Ms-Retry-After-Ms": "200"}, server, 100 * time.Millisecond, true},
		{"x-ms beats seconds", map[string]string{"X-Ms-Retry-After-Ms": "200", "Retry-After": "2"}, server, 200 * time.Millisecond, true},
		{"bad ms falls through", map[string]string{"Retry-After-Ms": "abc", "Retry-After": "2"}, server, 2 * time.Second, true},
		{"ms huge capped", map[string]string{"Retry-After-Ms": "999999999999999"}, server, MaxServerDelay, true},
		{"ms negative clamps", map[string]string{"X-Ms-Retry-After-Ms": "-1"}, server, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			got, ok := ParseRetryAfter(h, tt.now)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ParseRetryAfter(%v) = %v, %v; want %v, %v", tt.headers, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseRetryAfterNilHeader(t *testing.T) {
	if d, ok := ParseRetryAfter(nil, time.Now()); ok || d != 0 {
		t.Fatalf("ParseRetryAfter(nil) = %v, %v; want 0, false", d, ok)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "2.0", "-1", "1e3", "", "Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "99999999999999999999", ".", "0.000000001"} {
		f.Add(s, "", "Sun, 06 Nov 1994 08:49:37 GMT")
		f.Add("", s, "")
	}
	now := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	f.Fuzz(func(t *testing.T, retryAfter, ms, date string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("Retry-After-Ms", ms)
		h.Set("Date", date)
		d, ok := ParseRetryAfter(h, now)
		if d < 0 || d > MaxServerDelay {
			t.Fatalf("ParseRetryAfter(%q, %q, %q) = %v, outside [0, %v]", retryAfter, ms, date, d, MaxServerDelay)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q, %q, %q) = %v, false; want 0 when not ok", retryAfter, ms, date, d)
		}
	})
}

func BenchmarkParseRetryAfter(b *testing.B) {
	h := http.Header{"Retry-After": {"Sun, 06 Nov 1994 08:50:07 GMT"}, "Date": {"Sun, 06 Nov 1994 08:49:37 GMT"}}
	now := time.Now()
	for b.Loop() {
		_, _ = ParseRetryAfter(h, now)
	}
}
