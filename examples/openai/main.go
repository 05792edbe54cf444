// Command openai runs openai-go through a sluice.Transport against a
// simulated OpenAI (sluicetest, OpenAI's x-ratelimit headers for requests
// and tokens) and prints what the provider saw.
//
//	go run ./openai
//
// The functions here are the snippets of docs/sdks.md.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// newTransport is sluice's configuration for OpenAI at base: the tier's
// requests and tokens per minute (here per second, to keep the example
// short) less a tenth, so that network jitter never puts a request over;
// the tokens drawn per call with sluice.WithCost; and retries of POSTs
// allowed (a chat completion has no side effect worth guarding). The
// requests go out through rt (nil: http.DefaultTransport).
func newTransport(base string, rt http.RoundTripper) (*sluice.Transport, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return sluice.NewTransport(sluice.Config{
		Routes: []sluice.Route{{
			Name:  "openai",
			Match: sluice.Match{Host: u.Hostname(), Path: "/v1/**"}, // api.openai.com in production
			Policy: sluice.Policy{
				Limits: []sluice.LimitConfig{
					{Rate: "18/s", Burst: 4},                     // requests (RPM in production)
					{Rate: "3600/s", Burst: 900, Weighted: true}, // tokens, from WithCost
				},
				Retry: &sluice.RetryConfig{MaxAttempts: 3, NonIdempotent: true},
			},
		}},
	}, rt)
}

// newOpenAIClient wires openai-go to sluice, with openai-go's own retries
// off: sluice already retries what is safe, and the SDK's 2 retries on top
// of sluice's 3 attempts would make 9 requests of one failing call.
func newOpenAIClient(tr *sluice.Transport, base string) openai.Client {
	return openai.NewClient(
		option.WithHTTPClient(&http.Client{Transport: tr}),
		option.WithMaxRetries(0),
		option.WithBaseURL(base), // omit in production
		option.WithAPIKey("sk-example"),
	)
}

// ask sends one chat completion whose prompt and answer are expected to
// take about tokens tokens, drawing them from the route's weighted limit.
func ask(ctx context.Context, client openai.Client, prompt string, tokens int64) (*openai.ChatCompletion, error) {
	ctx = sluice.WithCost(ctx, tokens)
	return client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    openai.ChatModelGPT4oMini,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
	}, option.WithHeader(sluicetest.CostHeader, strconv.FormatInt(tokens, 10))) // only for the simulated provider
}

// completionHandler answers like POST /v1/chat/completions.
var completionHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1764669600, "model": "gpt-4o-mini",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": "ok"}}},
		"usage": map[string]any{"prompt_tokens": 150, "completion_tokens": 50, "total_tokens": 200},
	})
})

// askAll sends n calls of 200 tokens from workers goroutines and returns
// how many succeeded and the last error.
func askAll(ctx context.Context, client openai.Client, n, workers int) (ok int, last error) {
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				_, err := ask(ctx, client, fmt.Sprintf("question %d", i), 200)
				mu.Lock()
				if err != nil {
					last = err
				} else {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return ok, last
}

func run(ctx context.Context, w io.Writer) error {
	srv := sluicetest.NewServer(sluicetest.Options{
		Limit:      sluicetest.TokenBucket(20, 5),      // requests
		TokenLimit: sluicetest.TokenBucket(4000, 1000), // tokens
		Dialect:    sluicetest.DialectOpenAI,
		Handler:    completionHandler,
	})
	defer srv.Close()
	tr, err := newTransport(srv.URL, nil)
	if err != nil {
		return err
	}
	defer tr.Close()
	client := newOpenAIClient(tr, srv.URL+"/v1/")
	start := time.Now()
	ok, last := askAll(ctx, client, 40, 8)
	st := srv.Stats()
	fmt.Fprintf(w, "openai-go through sluice: %d/40 ok in %v (the provider allows 40 in %v), last error %v\n",
		ok, time.Since(start).Round(10*time.Millisecond), time.Duration(35/20.0*float64(time.Second)), last)
	fmt.Fprintf(w, "OpenAI saw %d requests, %d throttled\n", st.Requests, st.Rejected)
	return nil
}
