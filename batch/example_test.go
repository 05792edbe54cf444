package batch_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/batch"
)

func Example() {
	var mu sync.Mutex
	calls := 0
	l, err := batch.New(func(ctx context.Context, ids []int) (map[int]string, error) {
		mu.Lock()
		calls++ // one request, e.g. GET /users?ids=...
		mu.Unlock()
		m := map[int]string{}
		for _, id := range ids {
			m[id] = fmt.Sprintf("user-%d", id)
		}
		return m, nil
	}, batch.Options[int, string]{})
	if err != nil {
		panic(err)
	}
	names, errs := l.LoadMany(context.Background(), []int{1, 2, 3, 2})
	fmt.Println(names, errs[0], calls)
	// Output: [user-1 user-2 user-3 user-2] <nil> 1
}
