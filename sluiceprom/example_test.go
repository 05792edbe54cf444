package sluiceprom_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluiceprom"
	"github.com/sluicehq/sluice/sluicetest"
)

func ExampleNew() {
	provider := sluicetest.NewProvider(sluicetest.Options{}) // stands in for the real API
	defer provider.Close()
	tr, err := sluice.NewTransport(sluice.Config{Routes: []sluice.Route{
		{Name: "github", Match: sluice.Match{Host: "api.github.com"}},
	}}, provider)
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(sluiceprom.New(tr))
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})) // your /metrics
	defer metrics.Close()

	client := &http.Client{Transport: tr}
	resp, err := client.Get("https://api.github.com/repos/golang/go")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	scrape, err := http.Get(metrics.URL)
	if err != nil {
		panic(err)
	}
	defer scrape.Body.Close()
	body, _ := io.ReadAll(scrape.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, `sluice_requests_total{outcome="success"`) || strings.HasPrefix(line, `sluice_attempts_total{route="github",status_class="2xx"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// sluice_attempts_total{route="github",status_class="2xx"} 1
	// sluice_requests_total{outcome="success",route="github"} 1
}
