package store

import (
	"context"
	"time"
)

// RedisCanTransition evaluates the Lua copy of one transition rule (kind
// "payment", "refund" or "payout") on the server, for the cross-check
// against providers/status.go.
func RedisCanTransition(ctx context.Context, r *Redis, kind, from, to string, confirmed bool) (bool, error) {
	conf := "0"
	if confirmed {
		conf = "1"
	}
	n, err := scriptCanTransition.Run(ctx, r.client, nil, kind, from, to, conf).Int()
	return n == 1, err
}

// OpenRedisUnshared opens a Redis on a client of its own, bypassing the
// pool, as a second Caddy instance (another process) would have. The
// returned func closes that client.
func OpenRedisUnshared(opts RedisOptions) (*Redis, func(), error) {
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultRedisKeyPrefix
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	c, err := newRedisClient(opts)
	if err != nil {
		return nil, nil, err
	}
	// No pool entry has this key, so the handle's Close is harmless; the
	// returned func closes the client.
	return &Redis{poolKey: "unshared", client: c, prefix: opts.KeyPrefix}, func() { _ = c.Close() }, nil
}

// RedisSameClient reports whether two handles share one pooled client.
func RedisSameClient(a, b *Redis) bool { return a.client == b.client }
