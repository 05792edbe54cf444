package sluice

import (
	"net/http"
	"strings"
	"testing"
)

// TestValidateRefusesWhatNewTransportRefuses is the regression test of
// defect 9 (issue 11): each config here passed Validate (and so `sluice
// check`) and failed in NewTransport, with a Go field name. Now Validate
// refuses it, naming the YAML path.
func TestValidateRefusesWhatNewTransportRefuses(t *testing.T) {
	t.Setenv("SLUICE_TEST_UNSET_PW", "x")
	const redisSec = "redis: {addr: '127.0.0.1:1'}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"nan failure ratio", "defaults:\n  circuit: {failure_ratio: .nan}\n", "defaults.circuit.failure_ratio: NaN"},
		{"nan budget ratio", "routes:\n- retry: {budget: {ratio: .nan}}\n", "routes[0].retry.budget.ratio: NaN"},
		{"inf min per second", "routes:\n- retry: {budget: {min_per_second: .inf}}\n", "routes[0].retry.budget.min_per_second: +Inf"},
		{"nan adaptive", "quota: {adaptive: {initial_rate: .nan}}\n", "quota.adaptive.initial_rate: NaN"},
		{"inf adaptive", "quota: {adaptive: {max_rate: .inf}}\n", "quota.adaptive.max_rate: +Inf"},
		{"circuit window 1ms", "defaults:\n  circuit: {window: 1ms}\n", "defaults.circuit.window: 1ms is shorter than the minimum"},
		{"half open probes", "routes:\n- circuit: {half_open_probes: 20000}\n", "routes[0].circuit.half_open_probes: 20000 is more than the maximum"},
		{"burst 9e18", "routes:\n- limits: [{rate: 10/s, burst: 9000000000000000000}]\n", "routes[0].limits[0]: rate 10/s,burst=9000000000000000000"},
		{"inf strict shared", redisSec + "routes:\n- limits: [{rate: inf, strict: true, shared: true}]\n", `routes[0].limits[0]: rate "inf" cannot be a strict shared window`},
		{"bad redis url", "redis: {addr: 'redis://u:pw@[::1'}\n", "redis.addr: is not a valid redis:// URL"},
		{"prefix with braces", "redis: {addr: '127.0.0.1:1', prefix: 'a{b}'}\n", `redis.prefix: "a{b}" must not contain`},
		{"lease with strict", "redis: {addr: '127.0.0.1:1', lease: 10}\nroutes:\n- limits: [{rate: 10/s, strict: true, shared: true}]\n", "routes[0].limits[0]: a strict shared limit cannot lease"},
		{"unset password env", "redis: {addr: '127.0.0.1:1', password_env: SLUICE_TEST_SURELY_UNSET_9}\n", "redis.password_env: environment variable SLUICE_TEST_SURELY_UNSET_9 is not set"},
		{"burst twice", "routes:\n- limits: [{rate: '10/s,burst=3', burst: 5}]\n", "routes[0].limits[0].burst: 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil {
				t.Fatal("ParseConfig accepted it")
			}
			// "field: problem"; the error may put "(line N)" after the field.
			field, problem, _ := strings.Cut(tt.want, ": ")
			if !strings.Contains(err.Error(), field+":") && !strings.Contains(err.Error(), field+" (line") || !strings.Contains(err.Error(), problem) {
				t.Fatalf("error %q does not name %q with %q", err, field, problem)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Fatalf("error quotes the password: %q", err)
			}
		})
	}
}

// TestBurstSuffix is the regression test of defect 10 (issue 11): the
// ",burst=N" suffix of a rate was overwritten by the zero burst field, so
// '10/s,burst=3' let 10 through at once.
func TestBurstSuffix(t *testing.T) {
	cfg, err := ParseConfig([]byte("routes:\n- match: {host: a.test}\n  limits: [{rate: '10/s,burst=3'}]\n  retry: {max_attempts: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTransport(cfg, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	lim := tr.routes[0].limits.requests
	got := 0
	for range 10 {
		if res, _ := lim.Allow(t.Context(), 1); res.Allowed {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("%d of 10 allowed at once, want the burst of 3", got)
	}
}
