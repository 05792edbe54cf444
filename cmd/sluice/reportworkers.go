package main

import (
	"fmt"
	"strconv"
)

// workerTable is one run of `demo -proxy` in the HTML report: a row per
// worker process.
type workerTable struct {
	Run  string
	Rows []workerCells
}

// workerCells is one worker's row, every cell formatted.
type workerCells struct {
	Worker   string // "worker 1"
	Consumer string // its consumer at the proxy; "-" on the plain run
	Process  string // "Go, pid 1234"
	Requests int    // its share of the job
	Done     int64  // 2xx answers
	Provider int64  // 429s the provider answered its requests with
	Got429   int64  // 429s it received, from the provider or the proxy
	Share    string // its part of what the provider accepted in the run
	P50, P99 string // its requests' latencies
	Wall     string // how long its share took
}

// workerTables lays out the per-worker rows of each run for the report, as
// printWorkers prints them and with what the text leaves out: the consumer,
// the 429s the worker received, its part of the accepted requests and its
// latencies.
func workerTables(runs []proxyRun) []workerTable {
	var ts []workerTable
	for _, r := range runs {
		t := workerTable{Run: r.name}
		var total int64 // the provider's 2xx answers in the run
		for _, w := range r.workers {
			total += w.provider[accepted]
		}
		for _, w := range r.workers {
			c := workerCells{
				Worker:   "worker " + strconv.Itoa(w.rep.Worker),
				Consumer: "-",
				Process:  "Go",
				Requests: w.rep.Requests,
				Done:     w.rep.OK,
				Provider: w.provider[throttled],
				Got429:   w.rep.Got429,
				Share:    "-",
				P50:      "-",
				P99:      "-",
				Wall:     fmtDur(w.rep.Wall),
			}
			if r.viaProxy {
				c.Consumer = "worker-" + strconv.Itoa(w.rep.Worker)
			}
			if w.rep.PID > 0 {
				c.Process += ", pid " + strconv.Itoa(w.rep.PID)
			}
			if total > 0 {
				c.Share = fmt.Sprintf("%.1f%%", 100*float64(w.provider[accepted])/float64(total))
			}
			if w.rep.P99 > 0 {
				c.P50, c.P99 = fmtDur(w.rep.P50), fmtDur(w.rep.P99)
			}
			t.Rows = append(t.Rows, c)
		}
		ts = append(ts, t)
	}
	return ts
}
