package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator: the same Go client for every path.

func newClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n, DisableCompression: true}, Timeout: 10 * time.Second}
}

func get(c *http.Client, url string) error {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer bench-token")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func waitUp(url string) error {
	c := newClient(1)
	defer c.CloseIdleConnections()
	for range 100 {
		if err := get(c, url); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s never answered", url)
}

// fixedRate sends rate requests per second (open loop: each at its
// scheduled instant) and returns the p50 and p99 latency, measured from
// the scheduled instant so queueing in the generator counts, and the
// number of requests sent.
func fixedRate(url string, rate int, dur time.Duration) (p50, p99 time.Duration, errs int64, n int) {
	c := newClient(256)
	defer c.CloseIdleConnections()
	for range 50 { // warm connections
		get(c, url)
	}
	n = int(float64(rate) * dur.Seconds())
	lat := make([]time.Duration, n)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			if err := get(c, url); err != nil {
				bad.Add(1)
			}
			lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	return lat[n/2], lat[n*99/100], bad.Load(), n + 50
}

// closedLoop runs conns workers back to back for dur and returns req/s
// and the number of requests answered.
func closedLoop(url string, conns int, dur time.Duration) (float64, int64) {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				if get(c, url) == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	n := done.Load()
	return float64(n) / time.Since(start).Seconds(), n
}

// upConns asks the upstream how many connections it has accepted.
func upConns(addr string) string {
	resp, err := http.Get("http://" + addr + "/_conns")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
