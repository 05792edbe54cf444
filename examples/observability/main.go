// Command observability wraps the openai-go SDK with a sluice Transport,
// runs a small job against a simulated OpenAI (sluicetest, with a hidden
// limit it reports in OpenAI's headers), and exposes what sluice did both
// ways: Prometheus metrics on /metrics (sluiceprom) and OpenTelemetry spans
// and meters (sluiceotel). Spans are kept in memory and summarised at the
// end; in production pass an OTLP exporter's TracerProvider instead.
//
//	go run . -requests 60            # run the job, print the trace summary and the main series
//	go run . -listen 127.0.0.1:9464  # and keep serving /metrics until interrupted
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluiceotel"
	"github.com/sluicehq/sluice/sluiceprom"
	"github.com/sluicehq/sluice/sluicetest"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("observability", flag.ContinueOnError)
	fs.SetOutput(stderr)
	requests := fs.Int("requests", 60, "model lookups to make")
	workers := fs.Int("concurrency", 8, "goroutines making them")
	listen := fs.String("listen", "", "address to serve /metrics on after the job (empty: print and exit)")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	// The simulated provider: 20 requests/s, burst 5, reported like
	// OpenAI, and one request in ten answered 503.
	srv := sluicetest.NewServer(sluicetest.Options{
		Limit: sluicetest.TokenBucket(20, 5), Dialect: sluicetest.DialectOpenAI, Handler: http.HandlerFunc(model),
		Faults: sluicetest.Faults{ErrorRatio: 0.1, Seed: 1},
	})
	defer srv.Close()

	// sluice, with no rate configured: it learns the quota from the headers.
	tr, err := sluice.NewTransport(sluice.Config{Routes: []sluice.Route{
		{Name: "openai", Match: sluice.Match{Host: "127.0.0.1"}},
	}}, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer tr.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(sluiceprom.New(tr))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	inst, err := sluiceotel.Instrument(tr, sluiceotel.Options{
		TracerProvider: tp,
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer inst.Close()

	// The SDK, its own retries off: sluice paces and retries.
	client := openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1/"),
		option.WithAPIKey("sk-example"),
		option.WithHTTPClient(&http.Client{Transport: tr}),
		option.WithMaxRetries(0),
	)
	start := time.Now()
	failures := job(client, *requests, *workers)
	st := srv.Stats()
	fmt.Fprintf(stdout, "%d lookups in %v, %d failed; provider: %d accepted, %d throttled, %d answered 503\n\n",
		*requests, time.Since(start).Round(time.Millisecond), failures, st.Accepted, st.Rejected, st.Errors)
	summarise(stdout, spans.Ended())
	if err := printSeries(stdout, reg); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *listen != "" {
		return serve(*listen, reg, stdout, stderr)
	}
	if failures > 0 {
		return 1
	}
	return 0
}

// model answers GET /v1/models/{id} like OpenAI.
func model(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/models/")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "model", "created": 1700000000, "owned_by": "sluicetest"})
}

// job looks up n models from workers goroutines and returns the failures.
func job(client openai.Client, n, workers int) int {
	var mu sync.Mutex
	failures := 0
	ids := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range ids {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := client.Models.Get(ctx, fmt.Sprintf("model-%d", i))
				cancel()
				if err != nil {
					mu.Lock()
					failures++
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	return failures
}

// summarise prints how many spans of each name ended and the events the
// request spans carried.
func summarise(w io.Writer, spans []sdktrace.ReadOnlySpan) {
	names, events := map[string]int{}, map[string]int{}
	resends := 0
	for _, s := range spans {
		names[s.Name()+" ("+s.SpanKind().String()+")"]++
		for _, e := range s.Events() {
			events[e.Name]++
		}
		for _, a := range s.Attributes() {
			if a.Key == "http.request.resend_count" {
				resends++
			}
		}
	}
	fmt.Fprintln(w, "spans:")
	printCounts(w, names)
	fmt.Fprintf(w, "  attempt spans with http.request.resend_count: %d\n", resends)
	fmt.Fprintln(w, "span events:")
	printCounts(w, events)
	fmt.Fprintln(w)
}

func printCounts(w io.Writer, m map[string]int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-40s %d\n", k, m[k])
	}
}

// printSeries prints the non-zero samples of sluice's main counters.
func printSeries(w io.Writer, reg *prometheus.Registry) error {
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "metrics (non-zero samples of the counters; all of them on /metrics):")
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var v float64
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Histogram != nil && strings.HasSuffix(mf.GetName(), "wait_seconds"):
				v = float64(m.Histogram.GetSampleCount())
			default:
				continue
			}
			if v == 0 {
				continue
			}
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			suffix := ""
			if m.Histogram != nil {
				suffix = "_count"
			}
			fmt.Fprintf(w, "  %s%s{%s} %g\n", mf.GetName(), suffix, strings.Join(labels, ","), v)
		}
	}
	return nil
}

// serve serves /metrics on addr until interrupted.
func serve(addr string, reg *prometheus.Registry, stdout, stderr io.Writer) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	fmt.Fprintf(stdout, "\nserving http://%s/metrics (Ctrl-C to stop)\n", ln.Addr())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
