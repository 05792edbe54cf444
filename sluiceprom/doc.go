// Package sluiceprom exports what a [sluice.Transport] does as Prometheus
// metrics: requests by route and outcome, attempts by status class, retries
// by reason, throttles, time spent waiting by gate, the quota each provider
// reported (limit, remaining, reset), breaker state, requests in flight,
// cache lookups and Redis fallbacks. docs/metrics.md in the repository lists
// every metric with its labels.
//
//	t, _ := sluice.NewTransport(cfg, nil)
//	prometheus.MustRegister(sluiceprom.New(t))
//	http.Handle("/metrics", promhttp.Handler())
//
// Labels are bounded: route names come from the Config, requests that match
// no route are reported as route "default" (Options.PerHostDefaults splits
// them by host), quota buckets are bounded by QuotaOptions.MaxBuckets.
// Paths, query strings, IDs and credentials never become label values.
//
// The package is its own Go module (github.com/sluicehq/sluice/sluiceprom)
// so that a program using sluice without it does not download or build the
// Prometheus client and its dependencies; the sluice module itself depends
// on neither Prometheus nor OpenTelemetry. It plugs into the Transport
// through the [sluice.Observer] hook, which costs nothing when no exporter
// is added.
package sluiceprom
