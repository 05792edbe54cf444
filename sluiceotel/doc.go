// Package sluiceotel traces and measures a [sluice.Transport] with
// OpenTelemetry, following the HTTP client semantic conventions.
//
//	tr, _ := sluice.NewTransport(cfg, nil)
//	inst, err := sluiceotel.Instrument(tr, sluiceotel.Options{}) // global providers
//	defer inst.Close()
//	client := &http.Client{Transport: tr}
//
// # Spans
//
// Each request gets one INTERNAL span, "sluice <route>", for the whole
// logical request: route, cache, waits, every attempt and retry decision.
// Each attempt sent upstream gets a CLIENT child span named by its method
// with the HTTP client attributes (http.request.method, server.address,
// server.port, url.full with credentials redacted, http.response.status_code,
// error.type, http.request.resend_count on resends) and the trace context
// injected into that attempt's headers. The attempt span ends when its
// response headers arrive; the request span when RoundTrip returns. The
// pipeline's events become span events on the request span: rate_wait (per
// gate: limit, provider_pause, quota, concurrency, with the wait),
// rate_refused, rate_limited, route_paused, retry_scheduled,
// retries_exhausted, cache_hit, cache_miss, cache_stale, coalesced and
// circuit_open.
//
// # Metrics
//
// http.client.request.duration (per attempt, seconds, with the conventions'
// attributes) and sluice's own meters: sluice.requests, sluice.retries,
// sluice.throttles, sluice.rate_refusals, sluice.cache.lookups,
// sluice.wait.duration (by gate), sluice.request.duration, and the
// provider quota learned from headers as observable gauges
// (sluice.quota.limit, sluice.quota.remaining). Attribute values are bounded
// as in sluiceprom: route names from the Config, "default" for requests
// that matched no route.
//
// # With otelhttp
//
// Put otelhttp inside sluice, as its base transport, never outside:
//
//	tr, _ := sluice.NewTransport(cfg, otelhttp.NewTransport(http.DefaultTransport))
//	sluiceotel.Instrument(tr, sluiceotel.Options{BaseInstrumented: true})
//
// Inside, otelhttp sees every attempt (each retry is its own CLIENT span,
// under sluice's request span, and carries its own trace context); outside
// it would see one request for the whole retry loop and time the waits as
// if they were the provider's latency. With otelhttp inside, set
// Options.BaseInstrumented so that sluiceotel leaves the attempts to it
// (otherwise each attempt has two CLIENT spans, one inside the other, and
// is counted twice in http.client.request.duration). Without otelhttp,
// sluiceotel's own attempt spans are the better ones: otelhttp sets no
// http.request.resend_count and ends its span only when the body is
// closed.
//
// # Why a module of its own
//
// This package is its own Go module (github.com/sluicehq/sluice/sluiceotel)
// so that a program using sluice without it does not download or build the
// OpenTelemetry API and SDK; the sluice module itself depends on neither
// OpenTelemetry nor Prometheus. It plugs into the Transport through the
// [sluice.Observer] hook, which costs nothing when no exporter is added.
package sluiceotel
