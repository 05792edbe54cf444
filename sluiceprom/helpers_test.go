package sluiceprom

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type histogramValue struct {
	count uint64
	sum   float64
}

func (h *histogramValue) GetSampleCount() uint64 { return h.count }
func (h *histogramValue) GetSampleSum() float64  { return h.sum }

// find gathers c and returns the metric of name whose labels include the
// given pairs.
func find(t *testing.T, c prometheus.Collector, name string, kv ...string) *dto.Metric {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			labels := map[string]string{}
			for _, lp := range m.Label {
				labels[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if labels[kv[i]] != kv[i+1] {
					continue next
				}
			}
			return m
		}
	}
	t.Fatalf("no %s with labels %v", name, kv)
	return nil
}
