package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-payments/caddy-payments/store"
)

func TestBoltReconcileQueue(t *testing.T) {
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	for i, id := range []string{"pay_a", "pay_b"} {
		if err := b.ScheduleCheck(ctx, &store.ReconcileCheck{ID: id, Provider: "fake", NextAt: now.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.ClaimDueChecks(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "pay_a" {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	if again, _ := b.ClaimDueChecks(ctx, now.Add(time.Second), 10, time.Minute); len(again) != 0 {
		t.Fatal("a leased check was claimed twice")
	}
	got[0].Attempts, got[0].NextAt = 1, now.Add(2*time.Minute)
	if err := b.ScheduleCheck(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if due, _ := b.ClaimDueChecks(ctx, now.Add(3*time.Minute), 10, time.Minute); len(due) != 1 || due[0].Attempts != 1 {
		t.Fatalf("rescheduled check: %+v", due)
	}
	if err := b.DoneCheck(ctx, "pay_a"); err != nil {
		t.Fatal(err)
	}
	if due, _ := b.ClaimDueChecks(ctx, now.Add(48*time.Hour), 10, time.Minute); len(due) != 1 || due[0].ID != "pay_b" {
		t.Fatalf("after done: %+v", due)
	}
}

// oldCheck is a reconcile check as versions that reconciled only payments
// stored it.
const oldCheck = `{"payment_id":"pay_old","provider":"fake","server":"srv0","host":"shop.example","path":"/pay/notifications/fake","attempts":2,"next_at":"2025-03-14T09:00:00Z","created":"2025-03-13T09:00:00Z"}`

// TestBoltReadsOldChecksAndKeepsObjectChecksApart: a state file written by
// an earlier version (payment checks in the reconcile bucket) is read as
// it is, and refund and payout checks go to a bucket of their own, so an
// earlier version opening the file never takes them for payment checks.
func TestBoltReadsOldChecksAndKeepsObjectChecksApart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("reconcile"))
		if err != nil {
			return err
		}
		return bk.Put([]byte("pay_old"), []byte(oldCheck))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	got, err := b.ClaimDueChecks(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	if c := got[0]; c.ID != "pay_old" || c.Attempts != 2 || c.Server != "srv0" || c.Path != "/pay/notifications/fake" {
		t.Fatalf("old check read as %+v", c)
	}
	for _, id := range []string{"re_new", "po_new"} {
		if err := b.ScheduleCheck(ctx, &store.ReconcileCheck{ID: id, Provider: "fake", NextAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()

	db, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		var old []string
		_ = tx.Bucket([]byte("reconcile")).ForEach(func(k, _ []byte) error { old = append(old, string(k)); return nil })
		if len(old) != 1 || old[0] != "pay_old" {
			t.Errorf("the payment-check bucket holds %v; only payment checks belong there", old)
		}
		if n := tx.Bucket([]byte("reconcile_objects")).Stats().KeyN; n != 2 {
			t.Errorf("reconcile_objects holds %d checks, want 2", n)
		}
		return nil
	})
}
