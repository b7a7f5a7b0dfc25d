package store

import (
	"context"
	"time"

	"github.com/tidwall/gjson"
	bolt "go.etcd.io/bbolt"
)

// OldestEvent is the creation time of the oldest entry still in the outbox
// (ok false when the outbox is empty). It walks the queue, reading only
// each entry's created field, so callers run it seldom (the gateway, once
// per metrics scrape at most every few seconds).
func (b *Bolt) OldestEvent(ctx context.Context) (oldest time.Time, ok bool, err error) {
	err = b.view(ctx, func(tx *bolt.Tx) error {
		oldest, ok = time.Time{}, false
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			if t, has := createdOf(v); has && (!ok || t.Before(oldest)) {
				oldest, ok = t, true
			}
			return nil
		})
	})
	return oldest, ok, err
}

// OldestEvent is the creation time of the oldest entry still in the outbox
// (ok false when it is empty): an HSCAN of the outbox hash, reading only
// each entry's created field.
func (r *Redis) OldestEvent(ctx context.Context) (oldest time.Time, ok bool, err error) {
	if err := r.ready(ctx); err != nil {
		return time.Time{}, false, err
	}
	it := r.client.HScan(ctx, r.prefix+rkOutbox, 0, "", 500).Iterator()
	for i := 0; it.Next(ctx); i++ {
		if i%2 == 0 {
			continue // a field (the event id); the value follows
		}
		if t, has := createdOf([]byte(it.Val())); has && (!ok || t.Before(oldest)) {
			oldest, ok = t, true
		}
	}
	if err := it.Err(); err != nil {
		return time.Time{}, false, redisErr("oldest outbox entry", err)
	}
	return oldest, ok, nil
}

// createdOf reads an outbox entry's creation time from its JSON.
func createdOf(entry []byte) (time.Time, bool) {
	v := gjson.GetBytes(entry, "created")
	if !v.Exists() {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v.String())
	return t, err == nil && !t.IsZero()
}
