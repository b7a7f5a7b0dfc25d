package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// TestBoltCommitIsOneTransaction: the writes a create makes after the
// provider answered (payment, check, launch token, idempotency
// completion), and those after a delivery (two delivered marks, the
// outbox removal), each cost one write transaction, where the single-step
// methods cost one each.
func TestBoltCommitIsOneTransaction(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if _, started, err := b.BeginIdempotent(ctx, "idem:k", "fp", time.Hour); err != nil || !started {
		t.Fatalf("Begin = %v %v", started, err)
	}
	if _, err := b.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_1", Announce: "ann", Provider: "fake", Body: []byte(`{}`), NextAt: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	before := b.Commits()
	err := b.Commit(ctx, &store.Writes{
		Payment: &store.PaymentRecord{ID: "pay_1", Provider: "fake", Amount: 100, Currency: "EUR", Status: providers.StatusRequiresAction, CreatedAt: now},
		Checks:  []*store.ReconcileCheck{{ID: "pay_1", Provider: "fake", NextAt: now.Add(time.Minute), Created: now}},
		Once:    []store.OnceWrite{{Key: "launch:fake:t", Data: []byte("x"), TTL: time.Hour}},
		Finish:  &store.IdempotentFinish{Key: "idem:k", Status: 201, ContentType: "application/json", Body: []byte("{}\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := b.Commits() - before; n != 1 {
		t.Fatalf("a create's Commit took %d write transactions, want 1", n)
	}
	before = b.Commits()
	if err := b.Commit(ctx, &store.Writes{Delivered: []string{"evt_1", "ann"}, RemoveEvent: "evt_1"}); err != nil {
		t.Fatal(err)
	}
	if n := b.Commits() - before; n != 1 {
		t.Fatalf("a delivery's Commit took %d write transactions, want 1", n)
	}
	// An empty Commit writes nothing at all.
	before = b.Commits()
	if err := b.Commit(ctx, &store.Writes{}); err != nil || b.Commits() != before {
		t.Fatalf("an empty Commit: %v, %d transactions", err, b.Commits()-before)
	}
	if err := store.CheckDueIndexes(b); err != nil {
		t.Fatal(err)
	}
}
