package httpcache_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/httpcache"
)

func Example() {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c, err := httpcache.New(httpcache.Options{MaxEntries: 100, Now: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	req, _ := http.NewRequest("GET", "https://API.example.com:443/v1/items?b=2&a=1", nil)
	req.Header.Set("Authorization", "Bearer sk-alice")
	key := httpcache.Key(req, nil)

	// A response from upstream, stored for a minute (its max-age says 30s).
	upstream := &http.Response{
		StatusCode: 200, Status: "200 OK",
		Header: http.Header{"Cache-Control": {"max-age=30"}},
		Body:   io.NopCloser(strings.NewReader(`{"items":[]}`)),
	}
	e, resp, err := httpcache.Snapshot(upstream, time.Minute, now, c.MaxEntryBytes())
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Put(key, e)
	body, _ := io.ReadAll(resp.Body) // the caller still gets the whole body
	fmt.Println("first:", string(body))

	// A hit 5 seconds later.
	now = now.Add(5 * time.Second)
	if e, fresh, ok := c.Get(key); ok && fresh {
		hit := e.ResponseAt(req, now)
		body, _ := io.ReadAll(hit.Body)
		fmt.Println("hit:", string(body), "age", hit.Header.Get("Age"), hit.Header.Get("X-Sluice-Cache"))
		fmt.Println("fresh for", e.Expires().Sub(now))
	}
	// Output:
	// first: {"items":[]}
	// hit: {"items":[]} age 5 hit
	// fresh for 25s
}

func ExampleKey() {
	alice, _ := http.NewRequest("GET", "https://api.example.com/v1/me?api_key=alice-secret", nil)
	bob, _ := http.NewRequest("GET", "https://api.example.com/v1/me?api_key=bob-secret", nil)
	ka, kb := httpcache.Key(alice, nil), httpcache.Key(bob, nil)
	fmt.Println(ka == kb)
	fmt.Println(strings.Contains(ka, "alice-secret"))
	url, _, _ := strings.Cut(ka, "\n")
	fmt.Println(url)
	// Output:
	// false
	// false
	// GET https://api.example.com/v1/me
}

func ExampleGroup() {
	var g httpcache.Group
	fetch := func(ctx context.Context) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("shared"))}, nil
	}
	var wg sync.WaitGroup
	bodies := make([]string, 5)
	for i := range bodies {
		wg.Go(func() {
			// Callers that arrive while a call for the key is in flight
			// share it; each still gets its own response and body.
			resp, _, err := g.Do(context.Background(), "GET https://api.example.com/", fetch)
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bodies[i] = string(b)
		})
	}
	wg.Wait()
	fmt.Println(bodies)
	// Output:
	// [shared shared shared shared shared]
}

// Load and Save go through any Store; MemoryStore is the in-process one.
// A Keyer with a shared salt makes keys every process computes alike.
func ExampleSave() {
	ctx := context.Background()
	store, _ := httpcache.NewMemoryStore(httpcache.Options{})
	keyer := httpcache.NewKeyer([]byte("a secret shared by the processes"))

	req, _ := http.NewRequest("GET", "https://api.example.com/items/1", nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Etag": {`"1"`}}, Body: io.NopCloser(strings.NewReader("item 1"))}
	now := time.Now()
	e, _, _ := httpcache.Snapshot(resp, time.Minute, now, 1<<20)
	key := keyer.Key(req, nil, nil)
	_ = httpcache.Save(ctx, store, key, req, e, time.Hour)

	got, _, err := httpcache.Load(ctx, store, key, req)
	fmt.Println(string(got.Body()), got.Fresh(now), err)
	fmt.Println(len(httpcache.Partition(key)), strings.Contains(key, "t0ken"))
	// Output:
	// item 1 true <nil>
	// 32 false
}
