// Command anthropic runs anthropic-sdk-go through a sluice.Transport
// against a simulated LLM API with a tokens-per-minute limit, drawing each
// call's tokens from sluice with sluice.WithCost, and prints what the
// provider saw.
//
//	go run ./anthropic
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

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// newTransport is sluice's configuration for Anthropic at base: requests
// and (input + output) tokens per minute, here per second to keep the
// example short, set a tenth below the provider's so that network jitter
// never puts a request over. The token limit is weighted: each call takes
// the tokens its context states with sluice.WithCost. The requests go
// out through rt (nil: http.DefaultTransport).
func newTransport(base string, rt http.RoundTripper) (*sluice.Transport, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return sluice.NewTransport(sluice.Config{
		Routes: []sluice.Route{{
			Name:  "anthropic",
			Match: sluice.Match{Host: u.Hostname(), Path: "/v1/**"}, // api.anthropic.com in production
			Policy: sluice.Policy{
				Limits: []sluice.LimitConfig{
					{Rate: "45/s", Burst: 9},
					{Rate: "2700/s", Burst: 900, Weighted: true},
				},
				Retry: &sluice.RetryConfig{MaxAttempts: 3, NonIdempotent: true},
			},
		}},
	}, rt)
}

// newAnthropicClient wires anthropic-sdk-go to sluice, with the SDK's own
// retries (2 by default) off so that one failing call makes only sluice's
// attempts.
func newAnthropicClient(tr *sluice.Transport, base string) anthropic.Client {
	return anthropic.NewClient(
		option.WithoutEnvironmentDefaults(),
		option.WithHTTPClient(&http.Client{Transport: tr}),
		option.WithMaxRetries(0),
		option.WithBaseURL(base), // omit in production
		option.WithAPIKey("sk-ant-example"),
	)
}

// maxTokens bounds each answer.
const maxTokens = 300

// estimate is the tokens a call may use: its prompt (about four characters
// a token; the Messages.CountTokens endpoint gives the exact count) and
// at most maxTokens of answer. Providers charge the limit up front by
// max_tokens, so the estimate does too.
func estimate(prompt string) int64 { return int64(len(prompt)/4+1) + maxTokens }

// ask sends one message, drawing its estimated tokens from the route's
// weighted limit.
func ask(ctx context.Context, client anthropic.Client, prompt string, cost bool) (*anthropic.Message, error) {
	tokens := estimate(prompt)
	if cost {
		ctx = sluice.WithCost(ctx, tokens)
	}
	return client.Messages.New(ctx, anthropic.MessageNewParams{
		Model:     anthropic.ModelClaudeHaiku4_5,
		MaxTokens: maxTokens,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))},
	}, option.WithHeader(sluicetest.CostHeader, strconv.FormatInt(tokens, 10))) // only for the simulated provider
}

// messageHandler answers like POST /v1/messages.
var messageHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
		"content":     []any{map[string]any{"type": "text", "text": "ok"}},
		"stop_reason": "end_turn", "usage": map[string]any{"input_tokens": 20, "output_tokens": 5},
	})
})

// providerOptions are the simulated provider's: 50 requests and 3000
// tokens a second (1000 at once), 429 with Retry-After when over.
func providerOptions() sluicetest.Options {
	return sluicetest.Options{
		Limit:      sluicetest.TokenBucket(50, 10),
		TokenLimit: sluicetest.TokenBucket(3000, 1000),
		Dialect:    sluicetest.DialectRetryAfter,
		Handler:    messageHandler,
	}
}

// askAll sends n messages from workers goroutines and returns how many
// succeeded and the last error.
func askAll(ctx context.Context, client anthropic.Client, n, workers int, cost bool) (ok int, last error) {
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				_, err := ask(ctx, client, fmt.Sprintf("Summarize document %d in one line.", i), cost)
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
	for _, cost := range []bool{true, false} {
		srv := sluicetest.NewServer(providerOptions())
		tr, err := newTransport(srv.URL, nil)
		if err != nil {
			srv.Close()
			return err
		}
		client := newAnthropicClient(tr, srv.URL)
		start := time.Now()
		ok, last := askAll(ctx, client, 12, 4, cost)
		st := srv.Stats()
		fmt.Fprintf(w, "WithCost %-5v: %d/12 ok in %v, last error %v; provider saw %d requests, %d throttled\n",
			cost, ok, time.Since(start).Round(10*time.Millisecond), last, st.Requests, st.Rejected)
		_ = tr.Close()
		srv.Close()
	}
	return nil
}
