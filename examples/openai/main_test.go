package main

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/sluicetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup starts a simulated OpenAI and an openai-go client through sluice.
func setup(t *testing.T, opts sluicetest.Options) (*sluicetest.Server, openai.Client) {
	t.Helper()
	opts.Dialect = sluicetest.DialectOpenAI
	opts.Handler = completionHandler
	srv := sluicetest.NewServer(opts)
	t.Cleanup(srv.Close)
	tr, err := newTransport(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return srv, newOpenAIClient(tr, srv.URL+"/v1/")
}

// The job runs on fake time (synctest) against the provider in memory, so
// that the counts do not depend on the machine's load.
func TestPacedCallsAreNeverThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := sluicetest.NewProvider(sluicetest.Options{
			Limit:      sluicetest.TokenBucket(20, 5),
			TokenLimit: sluicetest.TokenBucket(4000, 1000),
			Dialect:    sluicetest.DialectOpenAI,
			Handler:    completionHandler,
		})
		defer p.Close()
		tr, err := newTransport("http://api.test", p)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		start := time.Now()
		ok, last := askAll(ctx, newOpenAIClient(tr, "http://api.test/v1/"), 40, 8)
		elapsed := time.Since(start)
		st := p.Stats()
		if ok != 40 || st.Requests != 40 || st.Rejected != 0 {
			t.Errorf("%d/40 ok (last error %v); provider saw %d requests, %d throttled; want 40/40 in 40 requests, none throttled",
				ok, last, st.Requests, st.Rejected)
		}
		// sluice's limit: 4 at once, then 18/s: 36 more take 2 s.
		if elapsed < 2*time.Second {
			t.Errorf("took %v, faster than sluice's limit allows (2s)", elapsed)
		}
		t.Logf("40 calls in %v (fake time)", elapsed)
	})
}

func TestRetriesOffMakesExactlySluiceAttempts(t *testing.T) {
	tests := []struct {
		name         string
		sdkRetries   []option.RequestOption
		wantRequests int
	}{
		// sluice's MaxAttempts.
		{"SDK retries off", nil, 3},
		// The SDK's first try makes sluice's 3 attempts, its second 2 more;
		// then sluice's breaker is open after 5 failures in a row and the
		// SDK's third try is refused without a request. Without the breaker
		// it would be 3 x 3 = 9.
		{"SDK retries left on", []option.RequestOption{option.WithMaxRetries(2)}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, client := setup(t, sluicetest.Options{Faults: sluicetest.Faults{ErrorRatio: 1}}) // every answer a 503
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    openai.ChatModelGPT4oMini,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			}, tt.sdkRetries...)
			if err == nil {
				t.Fatal("call succeeded against a provider that only answers 503")
			}
			if got := srv.Stats().Requests; got != tt.wantRequests {
				t.Errorf("provider saw %d requests, want %d", got, tt.wantRequests)
			}
		})
	}
}
