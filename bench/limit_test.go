package bench

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/sluicehq/sluice/limit"
	"go.uber.org/ratelimit"
	"golang.org/x/time/rate"
)

// The Allow benchmarks use rates so high (1e9 per second, burst 1e9) that
// every call succeeds: they measure the path a request takes when a token
// is there. Each reports refused/op, which must be 0. BenchmarkAllowRefused
// measures the other path, an empty limiter.

const hugeRate = 1_000_000_000

var ctx = context.Background()

func sluiceBucket(b *testing.B) *limit.Bucket {
	l, err := limit.NewBucket(limit.Rate{Count: hugeRate, Period: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func xrateLimiter() *rate.Limiter { return rate.NewLimiter(rate.Limit(hugeRate), hugeRate) }

func failsafeLimiter() ratelimiter.RateLimiter[any] {
	return ratelimiter.NewBursty[any](hugeRate, time.Second)
}

func report(b *testing.B, refused int) {
	b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
}

func BenchmarkAllow(b *testing.B) {
	b.Run("sluice", func(b *testing.B) {
		l := sluiceBucket(b)
		refused := 0
		b.ReportAllocs()
		for b.Loop() {
			if r, _ := l.Allow(ctx, 1); !r.Allowed {
				refused++
			}
		}
		report(b, refused)
	})
	b.Run("xrate", func(b *testing.B) {
		l := xrateLimiter()
		refused := 0
		b.ReportAllocs()
		for b.Loop() {
			if !l.Allow() {
				refused++
			}
		}
		report(b, refused)
	})
	b.Run("failsafe", func(b *testing.B) {
		l := failsafeLimiter()
		refused := 0
		b.ReportAllocs()
		for b.Loop() {
			if !l.TryAcquirePermit() {
				refused++
			}
		}
		report(b, refused)
	})
}

func BenchmarkAllowParallel(b *testing.B) {
	type allowFunc func() bool
	cases := []struct {
		name string
		mk   func() allowFunc
	}{
		{"sluice", func() allowFunc {
			l := sluiceBucket(b)
			return func() bool { r, _ := l.Allow(ctx, 1); return r.Allowed }
		}},
		{"xrate", func() allowFunc { return xrateLimiter().Allow }},
		{"failsafe", func() allowFunc { return failsafeLimiter().TryAcquirePermit }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			allow := c.mk()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !allow() {
						b.Error("refused") // never expected at this rate
						return
					}
				}
			})
		})
	}
	b.Run("uber-take", func(b *testing.B) {
		l := ratelimit.New(hugeRate)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Take()
			}
		})
	})
}

func BenchmarkAllowRefused(b *testing.B) {
	b.Run("sluice", func(b *testing.B) {
		l, _ := limit.NewBucket(limit.PerHour(1))
		_, _ = l.Allow(ctx, 1)
		b.ReportAllocs()
		for b.Loop() {
			if r, _ := l.Allow(ctx, 1); r.Allowed {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("xrate", func(b *testing.B) {
		l := rate.NewLimiter(rate.Every(time.Hour), 1)
		l.Allow()
		b.ReportAllocs()
		for b.Loop() {
			if l.Allow() {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("failsafe", func(b *testing.B) {
		l := ratelimiter.NewBursty[any](1, time.Hour)
		l.TryAcquirePermit()
		b.ReportAllocs()
		for b.Loop() {
			if l.TryAcquirePermit() {
				b.Fatal("allowed")
			}
		}
	})
}

func BenchmarkReserve(b *testing.B) {
	b.Run("sluice", func(b *testing.B) {
		l := sluiceBucket(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Reserve(ctx, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("xrate", func(b *testing.B) {
		l := xrateLimiter()
		b.ReportAllocs()
		for b.Loop() {
			if r := l.Reserve(); !r.OK() {
				b.Fatal("not ok")
			}
		}
	})
}

func BenchmarkTake(b *testing.B) {
	b.Run("uber", func(b *testing.B) {
		l := ratelimit.New(hugeRate)
		b.ReportAllocs()
		for b.Loop() {
			l.Take()
		}
	})
}

func BenchmarkWait(b *testing.B) {
	b.Run("sluice", func(b *testing.B) {
		l := sluiceBucket(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := l.Wait(ctx, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("xrate", func(b *testing.B) {
		l := xrateLimiter()
		b.ReportAllocs()
		for b.Loop() {
			if err := l.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSluiceKinds measures the other local limiters' Allow on their
// success path.
func BenchmarkSluiceKinds(b *testing.B) {
	win, _ := limit.NewWindow(limit.Rate{Count: 1_000_000, Period: time.Millisecond})
	multi, _ := limit.NewMulti(sluiceBucket(b), sluiceBucket(b))
	keyed, _ := limit.NewKeyed(func(string) (limit.Limiter, error) {
		return limit.NewBucket(limit.Rate{Count: hugeRate, Period: time.Second})
	},
		limit.KeyedOptions{MaxKeys: 1000})
	cases := []struct {
		name  string
		allow func() bool
	}{
		{"window", func() bool { r, _ := win.Allow(ctx, 1); return r.Allowed }},
		{"multi2buckets", func() bool { r, _ := multi.Allow(ctx, 1); return r.Allowed }},
		{"keyed-get+allow", func() bool {
			l, _ := keyed.Get("tenant-42")
			r, _ := l.Allow(ctx, 1)
			return r.Allowed
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			refused := 0
			b.ReportAllocs()
			for b.Loop() {
				if !c.allow() {
					refused++
				}
			}
			report(b, refused)
		})
	}
}

var sinkTime time.Time
var sinkDur time.Duration

func BenchmarkTimeNow(b *testing.B) {
	for b.Loop() {
		sinkTime = time.Now()
	}
}

func BenchmarkTimeSince(b *testing.B) {
	start := time.Now()
	for b.Loop() {
		sinkDur = time.Since(start)
	}
}
