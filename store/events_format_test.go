package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-payments/caddy-payments/store"
	"github.com/caddy-payments/caddy-payments/store/storetest"
)

// putPayments stores n payments a minute apart and returns their ids,
// newest first.
func putPayments(t *testing.T, s store.Store, n int) []string {
	t.Helper()
	var ids []string
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		p := storetest.Payment(fmt.Sprintf("pay_v1_%d", i), 100)
		p.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		if _, err := s.PutPayment(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		ids = append([]string{p.ID}, ids...)
	}
	return ids
}

func listedPayments(t *testing.T, s store.Store) []string {
	t.Helper()
	p, err := s.(store.EventLog).ListPayments(context.Background(), store.ListQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range p.Payments {
		out = append(out, r.ID)
	}
	return out
}

// TestBoltFormatV1IndexesPayments: a version 1 file (payments, no payment
// index) is migrated to version 2 by indexing its payments, so GET
// /payments lists those stored before the upgrade.
func TestBoltFormatV1IndexesPayments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	want := putPayments(t, b, 3)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	rawBolt(t, path, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("payments_time")); err != nil {
			return err
		}
		return tx.Bucket([]byte("format")).Put([]byte("version"), []byte("1"))
	})
	b, err = store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	got := listedPayments(t, b)
	_ = b.Close()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("payments listed after migration = %v, want %v", got, want)
	}
	if v, _ := boltFormat(t, path); v != currentFormat {
		t.Fatalf("format version after migration = %q", v)
	}
}

// TestRedisFormatV1IndexesPayments: the same for Redis keys of version 1.
func TestRedisFormatV1IndexesPayments(t *testing.T) {
	ctx := context.Background()
	opts := store.RedisOptions{Addr: redisAddr(t), KeyPrefix: freshPrefix(t)}
	r, closeFn, err := store.OpenRedisUnshared(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	want := putPayments(t, r, 3)
	c := rawClient(t)
	c.Del(ctx, opts.KeyPrefix+"payments:time")
	c.Set(ctx, opts.KeyPrefix+"format", "1", 0)
	r2, err := store.OpenRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if got := listedPayments(t, r2); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("payments listed after migration = %v, want %v", got, want)
	}
	if v, _ := c.Get(ctx, opts.KeyPrefix+"format").Result(); v != currentFormat {
		t.Fatalf("format version after migration = %q", v)
	}
}
