package rediscache_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/httpcache"
	"github.com/sluicehq/sluice/httpcache/rediscache"
)

// Two processes (here two Keyers and two Stores on one Redis) share an
// entry because they share the salt of the credential fingerprints.
func Example() {
	m, _ := miniredis.Run() // a real deployment points at its Redis
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	salt := []byte("a secret from the environment")
	ctx := context.Background()

	req, _ := http.NewRequest("GET", "https://api.example.com/items/1", nil)
	req.Header.Set("Authorization", "Bearer t0ken")

	// Process one stores the response.
	s1, _ := rediscache.New(rdb, rediscache.Options{Prefix: "example"})
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Etag": {`"1"`}}, Body: io.NopCloser(strings.NewReader("item 1"))}
	e, _, _ := httpcache.Snapshot(resp, time.Minute, time.Now(), s1.MaxEntryBytes())
	key := httpcache.NewKeyer(salt).Key(req, nil, nil)
	_ = httpcache.Save(ctx, s1, key, req, e, time.Hour)

	// Process two finds it.
	s2, _ := rediscache.New(rdb, rediscache.Options{Prefix: "example"})
	got, _, err := httpcache.Load(ctx, s2, httpcache.NewKeyer(salt).Key(req, nil, nil), req)
	fmt.Println(string(got.Body()), err)
	// Output: item 1 <nil>
}
