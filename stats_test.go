package sluice

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMergedRoutes(t *testing.T) {
	fold := func(name string) string {
		if strings.HasPrefix(name, "default:") {
			return "default"
		}
		return name
	}
	st := Stats{Routes: []RouteStats{
		{Name: "default:a.example", Requests: 2, Successes: 1, Failures: map[string]int64{"status_5xx": 1},
			Throttles: 1, Waited: time.Second, CacheHits: 1, CoalescedShared: 2, Breaker: "open"},
		{Name: "github", Requests: 5, Successes: 5, Breaker: "closed"},
		{Name: "default:b.example", Requests: 3, Successes: 2, Failures: map[string]int64{"status_5xx": 1, "transport": 1},
			Waited: 2 * time.Second, CacheStoreErrors: 1, RequestsSaved: 4, Breaker: "closed"},
	}}
	tests := []struct {
		name  string
		label func(string) string
		want  []RouteStats
	}{
		{"folded", fold, []RouteStats{
			{Name: "default", Requests: 5, Successes: 3, Failures: map[string]int64{"status_5xx": 2, "transport": 1},
				Throttles: 1, Waited: 3 * time.Second, CacheHits: 1, CoalescedShared: 2, CacheStoreErrors: 1,
				RequestsSaved: 4}, // no Breaker: each folded host has its own
			{Name: "github", Requests: 5, Successes: 5, Failures: map[string]int64{}, Breaker: "closed"},
		}},
		{"nil label keeps every route", nil, []RouteStats{
			{Name: "default:a.example", Requests: 2, Successes: 1, Failures: map[string]int64{"status_5xx": 1},
				Throttles: 1, Waited: time.Second, CacheHits: 1, CoalescedShared: 2, Breaker: "open"},
			{Name: "github", Requests: 5, Successes: 5, Failures: map[string]int64{}, Breaker: "closed"},
			{Name: "default:b.example", Requests: 3, Successes: 2, Failures: map[string]int64{"status_5xx": 1, "transport": 1},
				Waited: 2 * time.Second, CacheStoreErrors: 1, RequestsSaved: 4, Breaker: "closed"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := st.MergedRoutes(tt.label); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MergedRoutes:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if st.Routes[0].Failures["status_5xx"] != 1 {
		t.Error("MergedRoutes changed the snapshot's Failures map")
	}
}
