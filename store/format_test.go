package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
	"github.com/caddy-payments/caddy-payments/store/storetest"
)

// fullStore is what both stores implement.
type fullStore interface {
	store.Store
	store.ReconcileQueue
}

// formatFixture is one record of every kind, written through a store and
// read back after a migration.
type formatFixture struct {
	now     time.Time
	payment *store.PaymentRecord
	refund  *store.RefundRecord
	payout  *store.PayoutRecord
}

// writeEveryKind stores a payment (with a refund reservation and a status
// change), a refund, a payout, a queued event, a payment's and a refund's
// reconcile check, a finished idempotency record, a delivered event and a
// one-time value, all due or valid at f.now.
func writeEveryKind(t *testing.T, s fullStore) *formatFixture {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	f := &formatFixture{now: now}
	var err error
	if _, err = s.PutPayment(ctx, storetest.Payment("pay_fmt", 5000)); err != nil {
		t.Fatal(err)
	}
	if _, _, err = s.ApplyPaymentStatus(ctx, "pay_fmt", providers.StatusSucceeded, false, store.StatusChange{Source: "notification", At: now}); err != nil {
		t.Fatal(err)
	}
	if f.payment, err = s.ReserveRefund(ctx, "pay_fmt", "rk1", 1200); err != nil {
		t.Fatal(err)
	}
	f.refund = &store.RefundRecord{ID: "re_fmt", Key: "rk1", PaymentID: "pay_fmt", Provider: "payabl", ProviderRef: "T1",
		Amount: 1200, Currency: "EUR", Status: providers.RefundPending, CreatedAt: now}
	if err := s.PutRefund(ctx, f.refund); err != nil {
		t.Fatal(err)
	}
	if f.payout, err = s.PutPayout(ctx, &store.PayoutRecord{ID: "po_fmt", Provider: "paysage", ProviderRef: "P1",
		Amount: 700, Currency: "EUR", Status: providers.PayoutPending, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_fmt", Announce: "pay_fmt:succeeded", Provider: "payabl",
		EventType: "payment.succeeded", Body: []byte(`{"id":"evt_fmt"}`), Server: "srv0", Host: "shop.example", Path: "/n", NextAt: now, Created: now}); err != nil || !ok {
		t.Fatalf("enqueue = %v, %v", ok, err)
	}
	for _, id := range []string{"pay_fmt", "re_fmt"} {
		if err := s.ScheduleCheck(ctx, &store.ReconcileCheck{ID: id, Provider: "payabl", Server: "srv0", Host: "shop.example", Path: "/n", NextAt: now, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, started, err := s.BeginIdempotent(ctx, "idem_fmt", "fp1", time.Hour); err != nil || !started {
		t.Fatalf("begin idempotent = %v, %v", started, err)
	}
	if err := s.FinishIdempotent(ctx, "idem_fmt", 201, "application/json", []byte(`{"id":"pay_fmt"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, "evt_old"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOnce(ctx, "once_fmt", []byte("launch"), time.Hour); err != nil {
		t.Fatal(err)
	}
	return f
}

// readEveryKind checks that every record writeEveryKind stored reads back
// as it was written, and that the queues still work.
func readEveryKind(t *testing.T, s fullStore, f *formatFixture) {
	t.Helper()
	ctx := context.Background()
	same := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Fatalf("%s after migration:\n got  %s\n want %s", what, g, w)
		}
	}
	pay, err := s.GetPayment(ctx, "pay_fmt")
	if err != nil {
		t.Fatal(err)
	}
	same("payment", pay, f.payment)
	re, err := s.GetRefund(ctx, "re_fmt")
	if err != nil {
		t.Fatal(err)
	}
	same("refund", re, f.refund)
	po, err := s.GetPayout(ctx, "po_fmt")
	if err != nil {
		t.Fatal(err)
	}
	same("payout", po, f.payout)
	rec, started, err := s.BeginIdempotent(ctx, "idem_fmt", "fp1", time.Hour)
	if err != nil || started || rec == nil || !rec.Done || rec.Status != 201 || string(rec.Body) != `{"id":"pay_fmt"}` {
		t.Fatalf("idempotency record after migration = %+v, started %v, %v", rec, started, err)
	}
	if ok, err := s.Delivered(ctx, "evt_old"); err != nil || !ok {
		t.Fatalf("delivered after migration = %v, %v", ok, err)
	}
	if data, err := s.TakeOnce(ctx, "once_fmt"); err != nil || string(data) != "launch" {
		t.Fatalf("one-time value after migration = %q, %v", data, err)
	}
	if n, err := s.OutboxDepth(ctx); err != nil || n != 1 {
		t.Fatalf("outbox depth after migration = %d, %v", n, err)
	}
	evs, err := s.ClaimDueEvents(ctx, f.now, 10, time.Minute)
	if err != nil || len(evs) != 1 || evs[0].EventID != "evt_fmt" || string(evs[0].Body) != `{"id":"evt_fmt"}` || evs[0].Announce != "pay_fmt:succeeded" {
		t.Fatalf("due events after migration = %+v, %v", evs, err)
	}
	cs, err := s.ClaimDueChecks(ctx, f.now, 10, time.Minute)
	if err != nil || len(cs) != 2 || cs[0].ID != "pay_fmt" || cs[1].ID != "re_fmt" || cs[0].Host != "shop.example" {
		t.Fatalf("due checks after migration = %+v, %v", cs, err)
	}
	// A second event announcing the same status is still refused: the
	// announcement's owner survived too.
	if ok, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_fmt2", Announce: "pay_fmt:succeeded", NextAt: f.now}); err != nil || ok {
		t.Fatalf("second announcement after migration stored = %v, %v", ok, err)
	}
}

// rawBolt runs fn in a write transaction on the (closed) state file, as
// another program would.
func rawBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// boltFormat reads the format version stored in the (closed) file.
func boltFormat(t *testing.T, path string) (version string, present bool) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket([]byte("format")); bk != nil {
			if v := bk.Get([]byte("version")); v != nil {
				version, present = string(v), true
			}
		}
		return nil
	})
	return version, present
}

var currentFormat = strconv.Itoa(store.FormatVersion)

func TestBoltFormatNewFileStamped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if v, ok := boltFormat(t, path); !ok || v != currentFormat {
		t.Fatalf("format version of a new file = %q (present %v), want %s", v, ok, currentFormat)
	}
}

// TestBoltFormatMigratesUnversioned: a file in the layout of the release
// before format versions (written with this code, then the version
// removed) opens, keeps every record, gets the version, and has its
// due-time indexes rebuilt even where the file claims they were kept.
func TestBoltFormatMigratesUnversioned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	f := writeEveryKind(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	rawBolt(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("format")) == nil {
			t.Fatal("this code wrote no format bucket")
		}
		if err := tx.DeleteBucket([]byte("format")); err != nil {
			return err
		}
		// An index that is out of step although the file says the last
		// transaction kept it: only the migration's rebuild repairs it.
		idx := tx.Bucket([]byte("outbox_due"))
		if k, _ := idx.Cursor().First(); k == nil {
			t.Fatal("no outbox index key")
		} else if err := idx.Delete(bytes.Clone(k)); err != nil {
			return err
		}
		return tx.Bucket([]byte("due_index_meta")).Put([]byte("tx"), binary.BigEndian.AppendUint64(nil, uint64(tx.ID())))
	})
	if _, ok := boltFormat(t, path); ok {
		t.Fatal("the version is still there")
	}

	b, err = store.OpenBolt(path)
	if err != nil {
		t.Fatalf("opening an unversioned file: %v", err)
	}
	if err := store.CheckDueIndexes(b); err != nil {
		t.Fatalf("due indexes after migration: %v", err)
	}
	readEveryKind(t, b, f)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if v, ok := boltFormat(t, path); !ok || v != currentFormat {
		t.Fatalf("format version after migration = %q (present %v), want %s", v, ok, currentFormat)
	}
	// Opening again is a no-op for the format.
	b, err = store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if v, _ := boltFormat(t, path); v != currentFormat {
		t.Fatalf("format version after a second open = %q", v)
	}
}

// TestBoltFormatNewerRefused: a file of a newer (or unreadable) format
// version is refused, with an error naming the file and both versions,
// and left byte for byte as it was.
func TestBoltFormatNewerRefused(t *testing.T) {
	for _, found := range []string{strconv.Itoa(store.FormatVersion + 1), "v2"} {
		t.Run(found, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			b, err := store.OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			writeEveryKind(t, b)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			rawBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("format")).Put([]byte("version"), []byte(found))
			})
			before := fileDigest(t, path)

			b, err = store.OpenBolt(path)
			if err == nil {
				_ = b.Close()
				t.Fatalf("a file of format version %s was opened", found)
			}
			if !errors.Is(err, store.ErrFormatTooNew) {
				t.Fatalf("error %v is not ErrFormatTooNew", err)
			}
			for _, want := range []string{path, "format version", found, "up to " + currentFormat, "downgrade"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if after := fileDigest(t, path); after != before {
				t.Fatal("the refused file was changed")
			}
		})
	}
}

func fileDigest(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func TestRedisFormatNewPrefixStamped(t *testing.T) {
	_, opts := openRedis(t)
	c := rawClient(t)
	if v, err := c.Get(context.Background(), opts.KeyPrefix+"format").Result(); err != nil || v != currentFormat {
		t.Fatalf("format version under a new prefix = %q, %v; want %s", v, err, currentFormat)
	}
}

// TestRedisFormatMigratesUnversioned: keys written in the layout of the
// release before format versions (by this code, then the version key
// deleted) are read as they were after an open, which stamps the version.
func TestRedisFormatMigratesUnversioned(t *testing.T) {
	ctx := context.Background()
	opts := store.RedisOptions{Addr: redisAddr(t), KeyPrefix: freshPrefix(t)}
	r, closeFn, err := store.OpenRedisUnshared(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	f := writeEveryKind(t, r)
	c := rawClient(t)
	key := opts.KeyPrefix + "format"
	// OpenRedisUnshared skips the format check, so this prefix was never
	// stamped; delete anyway, in case it ever is.
	c.Del(ctx, key)

	r2, err := store.OpenRedis(opts)
	if err != nil {
		t.Fatalf("opening unversioned keys: %v", err)
	}
	defer r2.Close()
	if v, err := c.Get(ctx, key).Result(); err != nil || v != currentFormat {
		t.Fatalf("format version after migration = %q, %v; want %s", v, err, currentFormat)
	}
	readEveryKind(t, r2, f)
}

// TestRedisFormatNewerRefused: a newer (or unreadable) version under the
// prefix is refused, naming the address, the prefix and both versions, and
// left as it is.
func TestRedisFormatNewerRefused(t *testing.T) {
	ctx := context.Background()
	c := rawClient(t)
	for _, found := range []string{strconv.Itoa(store.FormatVersion + 1), "v2"} {
		t.Run(found, func(t *testing.T) {
			opts := store.RedisOptions{Addr: redisAddr(t), KeyPrefix: freshPrefix(t)}
			key := opts.KeyPrefix + "format"
			if err := c.Set(ctx, key, found, 0).Err(); err != nil {
				t.Fatal(err)
			}
			r, err := store.OpenRedis(opts)
			if err == nil {
				_ = r.Close()
				t.Fatalf("keys of format version %s were opened", found)
			}
			if !errors.Is(err, store.ErrFormatTooNew) {
				t.Fatalf("error %v is not ErrFormatTooNew", err)
			}
			for _, want := range []string{opts.Addr, strconv.Quote(opts.KeyPrefix), "format version", found, "up to " + currentFormat, "downgrade"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if v := c.Get(ctx, key).Val(); v != found {
				t.Fatalf("the refused version was changed to %q", v)
			}
			// The refused open let go of its pooled client: a good
			// prefix on the same server opens.
			ok, err := store.OpenRedis(store.RedisOptions{Addr: opts.Addr, KeyPrefix: freshPrefix(t)})
			if err != nil {
				t.Fatal(err)
			}
			_ = ok.Close()
		})
	}
}
