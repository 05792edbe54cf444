package sluiceotel_test

import (
	"fmt"
	"net/http"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluiceotel"
	"github.com/sluicehq/sluice/sluicetest"
)

func ExampleInstrument() {
	provider := sluicetest.NewProvider(sluicetest.Options{}) // stands in for the real API
	defer provider.Close()
	tr, err := sluice.NewTransport(sluice.Config{Routes: []sluice.Route{
		{Name: "github", Match: sluice.Match{Host: "api.github.com"}},
	}}, provider)
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	spans := tracetest.NewSpanRecorder() // in a program: an OTLP exporter
	inst, err := sluiceotel.Instrument(tr, sluiceotel.Options{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
	})
	if err != nil {
		panic(err)
	}
	defer inst.Close()

	resp, err := (&http.Client{Transport: tr}).Get("https://api.github.com/repos/golang/go")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.SpanKind())
	}
	// Output:
	// GET client
	// sluice github internal
}
