package caddymodule

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/fake"
	"github.com/caddy-payments/caddy-payments/store"
)

// noRefundFetch is a provider whose refunds cannot be fetched, as payabl's
// (GetRefund answers not_supported).
type noRefundFetch struct{ *fake.Provider }

func (noRefundFetch) GetRefund(context.Context, providers.Doer, string) (*providers.Refund, error) {
	return nil, providers.NotSupported("refunds cannot be fetched")
}

// TestRefundCheckEndsWhenTheProviderCannotFetch: a refund check whose
// provider answers not_supported ends (the notification is then the only
// source), while one whose fetch merely failed stays scheduled.
func TestRefundCheckEndsWhenTheProviderCannotFetch(t *testing.T) {
	db, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	unreachable, err := fake.New("http://127.0.0.1:1", "s")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	for _, tc := range []struct {
		name     string
		p        providers.Provider
		stays    bool
		attempts int
	}{
		{"not supported", noRefundFetch{unreachable}, false, 0},
		{"unreachable", unreachable, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{
				providers: map[string]providers.Provider{"acct": tc.p}, store: db, logger: zap.NewNop(), now: time.Now,
				doer: &providers.HTTPDoer{Client: &http.Client{}, Timeout: time.Second},
			}
			id := providers.EncodeID(providers.KindRefund, "acct", "fr_"+tc.name)
			if err := db.PutRefund(ctx, &store.RefundRecord{ID: id, Key: "k", PaymentID: "pay_x", Provider: "acct",
				ProviderRef: "fr_" + tc.name, Amount: 100, Currency: "EUR", Status: providers.RefundPending, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := db.ScheduleCheck(ctx, &store.ReconcileCheck{ID: id, Provider: "acct", NextAt: now, Created: now}); err != nil {
				t.Fatal(err)
			}
			due, err := db.ClaimDueChecks(ctx, now, 1, time.Millisecond)
			if err != nil || len(due) != 1 || due[0].ID != id {
				t.Fatalf("claim: %+v %v", due, err)
			}
			h.reconcileOne(ctx, db, due[0])
			later, _ := db.ClaimDueChecks(ctx, now.Add(48*time.Hour), 10, time.Minute)
			if stays := len(later) == 1 && later[0].ID == id; stays != tc.stays {
				t.Fatalf("check kept = %v, want %v (%+v)", stays, tc.stays, later)
			}
			if tc.stays && later[0].Attempts != tc.attempts {
				t.Fatalf("attempts %d, want %d", later[0].Attempts, tc.attempts)
			}
			if tc.stays {
				_ = db.DoneCheck(ctx, id)
			}
		})
	}
}
