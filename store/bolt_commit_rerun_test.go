package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-payments/caddy-payments/providers"
)

// TestBoltCommitRerunAfterRollback: a Commit that shares a transaction
// with a write that fails after writing (and one that panics) is run again
// without them and lands exactly once.
func TestBoltCommitRerunAfterRollback(t *testing.T) {
	ctx := context.Background()
	b := openInternal(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now().UTC()
	if _, started, err := b.BeginIdempotent(ctx, "idem:k", "fp", time.Hour); err != nil || !started {
		t.Fatal(started, err)
	}
	if _, err := b.EnqueueEvent(ctx, &OutboxEntry{EventID: "evt_1", Announce: "ann", NextAt: now}); err != nil {
		t.Fatal(err)
	}
	held, release, queued := holdCommits(t, b)
	first := make(chan error, 1)
	go func() { first <- b.MarkDelivered(ctx, "evt_first") }()
	<-held
	commitErr := make(chan error, 2)
	go func() {
		commitErr <- b.Commit(ctx, &Writes{
			Payment: &PaymentRecord{ID: "pay_1", Amount: 100, Currency: "EUR", Status: providers.StatusProcessing},
			Checks:  []*ReconcileCheck{{ID: "pay_1", NextAt: now.Add(time.Minute), Created: now}},
			Once:    []OnceWrite{{Key: "launch:x", Data: []byte("d"), TTL: time.Hour}},
			Finish:  &IdempotentFinish{Key: "idem:k", Status: 201, ContentType: "application/json", Body: []byte("{}\n")},
		})
	}()
	waitFor(t, "queue", func() bool { return queued() == 1 })
	go func() {
		commitErr <- b.Commit(ctx, &Writes{Delivered: []string{"evt_1", "ann"}, RemoveEvent: "evt_1"})
	}()
	waitFor(t, "queue", func() bool { return queued() == 2 })
	failed := make(chan error, 1)
	go func() {
		failed <- b.update(ctx, func(tx *bolt.Tx) error {
			_ = tx.Bucket(bucketOnce).Put([]byte("left"), []byte("x"))
			return tx.Bucket(bucketOnce).Put(nil, []byte("x")) // bbolt refuses an empty key
		})
	}()
	waitFor(t, "queue", func() bool { return queued() == 3 })
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-commitErr; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-failed; err == nil {
		t.Fatal("the failing write succeeded")
	}
	if _, err := b.GetPayment(ctx, "pay_1"); err != nil {
		t.Fatal(err)
	}
	rec, started, err := b.BeginIdempotent(ctx, "idem:k", "fp", time.Hour)
	if err != nil || started || !rec.Done || rec.Status != 201 {
		t.Fatalf("%+v %v %v", rec, started, err)
	}
	if n, _ := b.OutboxDepth(ctx); n != 0 {
		t.Fatalf("outbox depth %d", n)
	}
	if err := CheckDueIndexes(b); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TakeOnce(ctx, "left"); err == nil {
		t.Fatal("the failed write's first put was committed")
	}
}
