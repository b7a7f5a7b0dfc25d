package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// TestBoltReplayWaitsForDurability: bbolt shows a committed transaction to
// readers before its fdatasync returns. A retry that arrives in that
// moment must not be answered with the stored response (which a power
// loss could still take back, with the payment record committed beside
// it): BeginIdempotent returns the finished record only once the
// transaction that stored it is durable. A conflict or an in-flight key is
// still answered from a read at once.
func TestBoltReplayWaitsForDurability(t *testing.T) {
	ctx := context.Background()
	b := openInternal(t, filepath.Join(t.TempDir(), "state.db"))
	for _, k := range []string{"idem:k", "idem:inflight"} {
		if _, started, err := b.BeginIdempotent(ctx, k, "fp", time.Hour); err != nil || !started {
			t.Fatalf("Begin(%s) = %v %v", k, started, err)
		}
	}
	// The next transaction is held after its commit, before it counts as
	// durable: the window of bbolt's fdatasync.
	inWindow, gate := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	b.w.afterTx = func() { once.Do(func() { close(inWindow); <-gate }) }
	release := func() { releaseOnce.Do(func() { close(gate) }) }
	t.Cleanup(release)

	committed := make(chan error, 1)
	go func() {
		committed <- b.Commit(ctx, &Writes{
			Payment: &PaymentRecord{ID: "pay_d", Amount: 100, Currency: "EUR", Status: providers.StatusProcessing},
			Finish:  &IdempotentFinish{Key: "idem:k", Status: 201, ContentType: "application/json", Body: []byte("{}\n")},
		})
	}()
	<-inWindow
	// Readers already see the commit.
	if _, err := b.GetPayment(ctx, "pay_d"); err != nil {
		t.Fatalf("a reader does not see the committed transaction (the test models nothing): %v", err)
	}
	// An in-flight key and a conflict are answered at once.
	if rec, started, err := b.BeginIdempotent(ctx, "idem:inflight", "fp", time.Hour); err != nil || started || rec == nil || rec.Done {
		t.Fatalf("in-flight key = %+v %v %v", rec, started, err)
	}
	replayed := make(chan *IdempotencyRecord, 1)
	go func() {
		rec, started, err := b.BeginIdempotent(ctx, "idem:k", "fp", time.Hour)
		if err != nil || started {
			t.Errorf("replay Begin = %v %v", started, err)
		}
		replayed <- rec
	}()
	select {
	case rec := <-replayed:
		t.Fatalf("the stored answer was replayed before its transaction was durable: %+v", rec)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	select {
	case rec := <-replayed:
		if rec == nil || !rec.Done || rec.Status != 201 {
			t.Fatalf("replay after durability = %+v", rec)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the replay never came")
	}
	// Once durable, a replay costs no write transaction.
	before := b.Commits()
	if rec, started, err := b.BeginIdempotent(ctx, "idem:k", "fp", time.Hour); err != nil || started || !rec.Done {
		t.Fatalf("replay = %+v %v %v", rec, started, err)
	}
	if n := b.Commits() - before; n != 0 {
		t.Fatalf("a replay of a durable answer took %d write transactions", n)
	}
}
