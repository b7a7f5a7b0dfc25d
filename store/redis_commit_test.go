package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// TestRedisCommitWrongTypeWritesNothing: Redis does not roll a script
// back, so a part whose command fails on the server (here the reconcile
// queue's hash holding a string, WRONGTYPE) must be found before anything
// is written: the payment, the launch token and the idempotency completion
// that come before it in the script stay unwritten, and the key stays in
// flight, as for any failed Commit. The same holds for the outbox's keys of
// a delivery's Commit.
func TestRedisCommitWrongTypeWritesNothing(t *testing.T) {
	ctx := context.Background()
	r, opts := openRedis(t)
	raw := rawClient(t)
	now := time.Now().UTC()
	if _, started, err := r.BeginIdempotent(ctx, "idem:w", "fp", time.Hour); err != nil || !started {
		t.Fatalf("Begin = %v %v", started, err)
	}
	for _, spoiled := range []string{"reconcile", "reconcile:due"} {
		if err := raw.Set(ctx, opts.KeyPrefix+spoiled, "not a queue", 0).Err(); err != nil {
			t.Fatal(err)
		}
		err := r.Commit(ctx, &store.Writes{
			Payment: &store.PaymentRecord{ID: "pay_w", Provider: "fake", Amount: 100, Currency: "EUR", Status: providers.StatusProcessing, CreatedAt: now},
			Checks:  []*store.ReconcileCheck{{ID: "pay_w", Provider: "fake", NextAt: now, Created: now}},
			Once:    []store.OnceWrite{{Key: "launch:w", Data: []byte("x"), TTL: time.Hour}},
			Finish:  &store.IdempotentFinish{Key: "idem:w", Status: 201, ContentType: "application/json", Body: []byte("{}\n")},
		})
		if err == nil {
			t.Fatalf("%s spoiled: Commit succeeded", spoiled)
		}
		if _, err := r.GetPayment(ctx, "pay_w"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s spoiled: the payment of a failed Commit was written (%v)", spoiled, err)
		}
		if _, err := r.TakeOnce(ctx, "launch:w"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s spoiled: the launch token of a failed Commit was written (%v)", spoiled, err)
		}
		if rec, _, err := r.BeginIdempotent(ctx, "idem:w", "fp", time.Hour); err != nil || rec == nil || rec.Done {
			t.Fatalf("%s spoiled: a failed Commit completed the idempotency key: %+v %v", spoiled, rec, err)
		}
		if err := raw.Del(ctx, opts.KeyPrefix+spoiled).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Set(ctx, opts.KeyPrefix+"outbox:due", "not a queue", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx, &store.Writes{Delivered: []string{"evt_w"}, RemoveEvent: "evt_w"}); err == nil {
		t.Fatal("outbox spoiled: Commit succeeded")
	}
	if done, err := r.Delivered(ctx, "evt_w"); err != nil || done {
		t.Fatalf("outbox spoiled: the delivered mark of a failed Commit was written (%v %v)", done, err)
	}
}
