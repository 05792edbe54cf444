package rediscache

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/httpcache"
)

// Defaults applied by New to zero fields of Options.
const (
	DefaultPrefix              = "sluice:cache"
	DefaultMaxEntryBytes int64 = 1 << 20
	DefaultTimeout             = 100 * time.Millisecond
	DefaultMaxTTL              = 24 * time.Hour
	DefaultBackoff             = time.Second
)

// ErrUnavailable is returned, without asking Redis, while the store backs
// off after a failure (Options.Backoff).
var ErrUnavailable = errors.New("rediscache: redis unavailable (backing off after a failure)")

// Options configures a Store. Zero fields take the defaults above.
type Options struct {
	// Prefix starts every key the store writes. Empty means
	// "sluice:cache".
	Prefix string
	// MaxEntryBytes is the largest value stored, key included; larger ones
	// give httpcache.ErrTooLarge. 0 means 1 MiB; negative is an error.
	MaxEntryBytes int64
	// Timeout bounds each Redis call. 0 means 100ms; negative is an error.
	Timeout time.Duration
	// MaxTTL caps the time to live of every entry, and is the TTL of an
	// entry stored with none. 0 means 24h; negative is an error.
	MaxTTL time.Duration
	// Backoff is how long the store answers ErrUnavailable after a Redis
	// failure. 0 means 1s; negative means never back off.
	Backoff time.Duration
}

// Store is an httpcache.Store and httpcache.Locker on Redis. It is safe for
// concurrent use; it does not close the client.
type Store struct {
	rdb      redis.UniversalClient
	prefix   string
	maxEntry int64
	timeout  time.Duration
	maxTTL   time.Duration
	backoff  time.Duration
	downTill atomic.Int64 // unix nanoseconds until which calls are refused
}

// New returns a Store writing to rdb. It reports an error for a nil
// client or a negative bound.
func New(rdb redis.UniversalClient, o Options) (*Store, error) {
	switch {
	case rdb == nil:
		return nil, errors.New("rediscache: nil Redis client")
	case o.MaxEntryBytes < 0:
		return nil, fmt.Errorf("rediscache: MaxEntryBytes %d must not be negative", o.MaxEntryBytes)
	case o.Timeout < 0:
		return nil, fmt.Errorf("rediscache: Timeout %v must not be negative", o.Timeout)
	case o.MaxTTL < 0:
		return nil, fmt.Errorf("rediscache: MaxTTL %v must not be negative", o.MaxTTL)
	}
	s := &Store{rdb: rdb, prefix: o.Prefix, maxEntry: o.MaxEntryBytes, timeout: o.Timeout, maxTTL: o.MaxTTL, backoff: o.Backoff}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.maxEntry == 0 {
		s.maxEntry = DefaultMaxEntryBytes
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxTTL == 0 {
		s.maxTTL = DefaultMaxTTL
	}
	if s.backoff == 0 {
		s.backoff = DefaultBackoff
	}
	return s, nil
}

// MaxEntryBytes returns the largest value the store keeps.
func (s *Store) MaxEntryBytes() int64 { return s.maxEntry }

// partition returns the key part naming key's credential partition.
func partition(key string) string {
	if p := httpcache.Partition(key); p != "" {
		return p
	}
	return "public"
}

// redisKey returns the Redis key of key's entry (kind "e") or lock ("l").
func (s *Store) redisKey(key, kind string) string {
	sum := sha256.Sum256([]byte(key))
	return s.prefix + ":p:" + partition(key) + ":" + kind + ":" + hex.EncodeToString(sum[:16])
}

// call runs fn with the store's timeout, unless backing off, and notes a
// failure.
func (s *Store) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if until := s.downTill.Load(); until != 0 && time.Now().UnixNano() < until {
		return ErrUnavailable
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := fn(cctx)
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	// The caller's own cancellation or deadline says nothing about Redis.
	if s.backoff > 0 && ctx.Err() == nil {
		s.downTill.Store(time.Now().Add(s.backoff).UnixNano())
	}
	return fmt.Errorf("rediscache: %s: %w", op, err)
}

// Get implements httpcache.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	var b []byte
	err := s.call(ctx, "get", func(ctx context.Context) (err error) {
		b, err = s.rdb.Get(ctx, s.redisKey(key, "e")).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, httpcache.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	n, m := binary.Uvarint(b)
	if m <= 0 || n > uint64(len(b)-m) || string(b[m:m+int(n)]) != key {
		return nil, httpcache.ErrNotFound // another key's entry (a hash collision) or junk
	}
	return b[m+int(n):], nil
}

// Set implements httpcache.Store. A ttl of 0 or above MaxTTL is MaxTTL.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	rk := s.redisKey(key, "e")
	v := make([]byte, 0, binary.MaxVarintLen64+len(key)+len(value))
	v = binary.AppendUvarint(v, uint64(len(key)))
	v = append(v, key...)
	v = append(v, value...)
	if int64(len(v)) > s.maxEntry {
		if err := s.call(ctx, "delete", func(ctx context.Context) error { return s.rdb.Del(ctx, rk).Err() }); err != nil {
			return err
		}
		return httpcache.ErrTooLarge
	}
	if ttl <= 0 || ttl > s.maxTTL {
		ttl = s.maxTTL
	}
	return s.call(ctx, "set", func(ctx context.Context) error { return s.rdb.Set(ctx, rk, v, ttl).Err() })
}

// Delete implements httpcache.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.call(ctx, "delete", func(ctx context.Context) error { return s.rdb.Del(ctx, s.redisKey(key, "e")).Err() })
}

// TryLock implements httpcache.Locker: SET NX PX with a random token.
func (s *Store) TryLock(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	if ttl <= 0 {
		return "", false, fmt.Errorf("rediscache: lock TTL %v must be positive", ttl)
	}
	var t [16]byte
	rand.Read(t[:]) // never fails
	token := hex.EncodeToString(t[:])
	var ok bool
	err := s.call(ctx, "lock", func(ctx context.Context) (err error) {
		ok, err = s.rdb.SetNX(ctx, s.redisKey(key, "l"), token, ttl).Result()
		return err
	})
	if err != nil {
		return "", false, err
	}
	return token, ok, nil
}

// unlockScript deletes the lock only while it holds the caller's token.
var unlockScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)

// Unlock implements httpcache.Locker.
func (s *Store) Unlock(ctx context.Context, key, token string) error {
	return s.call(ctx, "unlock", func(ctx context.Context) error {
		return unlockScript.Run(ctx, s.rdb, []string{s.redisKey(key, "l")}, token).Err()
	})
}

// Locked implements httpcache.Locker.
func (s *Store) Locked(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.call(ctx, "locked", func(ctx context.Context) (err error) {
		n, err = s.rdb.Exists(ctx, s.redisKey(key, "l")).Result()
		return err
	})
	return n > 0, err
}

// Purge removes every entry and lock of the credential partition
// fingerprint (httpcache.Partition of a key; "public" for requests without
// credentials), for example when a token is revoked, and returns how many
// keys it removed. It scans at most maxKeys keys per Redis node (0 means
// 100,000), each SCAN call bounded by the store's timeout.
func (s *Store) Purge(ctx context.Context, fingerprint string, maxKeys int) (int, error) {
	if fingerprint == "" {
		return 0, errors.New("rediscache: Purge of an empty fingerprint")
	}
	if maxKeys <= 0 {
		maxKeys = 100_000
	}
	pattern := s.prefix + ":p:" + fingerprint + ":*"
	var removed atomic.Int64
	purge := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for seen := 0; seen < maxKeys; {
			var keys []string
			err := s.call(ctx, "purge", func(ctx context.Context) (err error) {
				keys, cursor, err = c.Scan(ctx, cursor, pattern, 256).Result()
				return err
			})
			if err != nil {
				return err
			}
			seen += len(keys)
			if len(keys) > 0 {
				// One DEL per key: a cluster refuses multi-key commands
				// across hash slots.
				err := s.call(ctx, "purge", func(ctx context.Context) error {
					cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
						for _, k := range keys {
							p.Del(ctx, k)
						}
						return nil
					})
					for _, cmd := range cmds {
						removed.Add(cmd.(*redis.IntCmd).Val())
					}
					return err
				})
				if err != nil {
					return err
				}
			}
			if cursor == 0 {
				return nil
			}
		}
		return nil
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return purge(ctx, c) })
	} else {
		err = purge(ctx, s.rdb)
	}
	return int(removed.Load()), err
}
