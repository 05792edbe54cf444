package bench

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluiceotel"
	"github.com/sluicehq/sluice/sluiceprom"
)

// BenchmarkObservability measures what each exporter adds per request,
// beside what the peer instrumentation adds to a bare transport: promhttp
// (InstrumentRoundTripperCounter + Duration, labels code and method) and
// otelhttp.NewTransport, on the same in-memory base that answers at once.
// Both OpenTelemetry runs use the same SDK providers: every span sampled
// and ended into a processor that drops it, metrics aggregated into a
// manual reader that is never collected.
func BenchmarkObservability(b *testing.B) {
	otelProviders := func() (*sdktrace.TracerProvider, *sdkmetric.MeterProvider) {
		return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(dropSpans{})),
			sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	}
	newSluice := func(b *testing.B) *sluice.Transport {
		tr, err := sluice.NewTransport(sluice.Config{Routes: []sluice.Route{
			{Name: "api", Match: sluice.Match{Host: "api.example.com"}},
		}}, canned{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { tr.Close() })
		return tr
	}
	cases := []struct {
		name string
		make func(b *testing.B) http.RoundTripper
	}{
		{"bare", func(*testing.B) http.RoundTripper { return canned{} }},
		{"bare+promhttp", func(*testing.B) http.RoundTripper {
			reg := prometheus.NewRegistry()
			counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "client_requests_total", Help: "h"}, []string{"code", "method"})
			dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "client_request_duration_seconds", Help: "h"}, []string{"code", "method"})
			reg.MustRegister(counter, dur)
			return promhttp.InstrumentRoundTripperCounter(counter, promhttp.InstrumentRoundTripperDuration(dur, canned{}))
		}},
		{"bare+otelhttp", func(*testing.B) http.RoundTripper {
			tp, mp := otelProviders()
			return otelhttp.NewTransport(canned{}, otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp),
				otelhttp.WithPropagators(propagation.TraceContext{}))
		}},
		{"sluice", func(b *testing.B) http.RoundTripper { return newSluice(b) }},
		{"sluice+sluiceprom", func(b *testing.B) http.RoundTripper {
			tr := newSluice(b)
			prometheus.NewRegistry().MustRegister(sluiceprom.New(tr))
			return tr
		}},
		{"sluice+sluiceotel", func(b *testing.B) http.RoundTripper {
			tr := newSluice(b)
			tp, mp := otelProviders()
			inst, err := sluiceotel.Instrument(tr, sluiceotel.Options{TracerProvider: tp, MeterProvider: mp, Propagator: propagation.TraceContext{}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { inst.Close() })
			return tr
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			client := &http.Client{Transport: c.make(b)}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get("https://api.example.com/repos/1")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// dropSpans is a span processor that drops every span it is handed.
type dropSpans struct{}

func (dropSpans) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {}
func (dropSpans) OnEnd(s sdktrace.ReadOnlySpan)                            {}
func (dropSpans) Shutdown(context.Context) error                           { return nil }
func (dropSpans) ForceFlush(context.Context) error                         { return nil }
