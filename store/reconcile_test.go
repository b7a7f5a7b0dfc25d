package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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
		if err := b.ScheduleCheck(ctx, &store.ReconcileCheck{PaymentID: id, Provider: "fake", NextAt: now.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.ClaimDueChecks(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].PaymentID != "pay_a" {
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
	if due, _ := b.ClaimDueChecks(ctx, now.Add(48*time.Hour), 10, time.Minute); len(due) != 1 || due[0].PaymentID != "pay_b" {
		t.Fatalf("after done: %+v", due)
	}
}
