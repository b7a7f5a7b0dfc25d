package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/store"
)

// testReconcileBacklog checks the backlog counts due checks of payments,
// refunds and payouts, not the ones due later, not the ones a worker
// holds (their lease moved them), honours the limit, and is zero again
// once they are done.
func testReconcileBacklog(t *testing.T, s interface {
	store.ReconcileQueue
	store.BacklogCounter
}) {
	ctx := context.Background()
	now := time.Now().UTC()
	if n, err := s.ReconcileBacklog(ctx, now, 100); err != nil || n != 0 {
		t.Fatalf("empty store: backlog %d, %v; want 0", n, err)
	}
	checks := []struct {
		id  string
		due time.Duration // from now
	}{{"pay_a", -time.Hour}, {"re_b", -time.Minute}, {"po_c", -time.Second}, {"pay_d", time.Hour}, {"re_e", time.Minute}}
	for _, c := range checks {
		if err := s.ScheduleCheck(ctx, &store.ReconcileCheck{ID: c.id, Provider: "fake", Server: "srv0",
			Host: "shop.example", Path: "/notifications/fake", NextAt: now.Add(c.due), Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.ReconcileBacklog(ctx, now, 100); err != nil || n != 3 {
		t.Fatalf("backlog %d, %v; want 3 (pay_a, re_b, po_c are due; pay_d and re_e are not)", n, err)
	}
	if n, _ := s.ReconcileBacklog(ctx, now, 2); n != 2 {
		t.Fatalf("backlog with limit 2 = %d, want 2", n)
	}
	if n, _ := s.ReconcileBacklog(ctx, now.Add(2*time.Hour), 100); n != 5 {
		t.Fatalf("backlog two hours on = %d, want 5", n)
	}
	got, err := s.ClaimDueChecks(ctx, now, 1, time.Minute)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	if n, _ := s.ReconcileBacklog(ctx, now, 100); n != 2 {
		t.Fatalf("backlog after a worker took %s = %d, want 2 (a held check is not waiting)", got[0].ID, n)
	}
	for _, c := range checks {
		if err := s.DoneCheck(ctx, c.id); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.ReconcileBacklog(ctx, now.Add(2*time.Hour), 100); n != 0 {
		t.Fatalf("backlog after every check was done = %d, want 0", n)
	}
}

func TestBoltReconcileBacklog(t *testing.T) {
	b, _ := openTemp(t)
	testReconcileBacklog(t, b)
}

func TestRedisReconcileBacklog(t *testing.T) {
	r, _ := openRedis(t)
	testReconcileBacklog(t, r)
}

func TestPostgresReconcileBacklog(t *testing.T) {
	p, _ := openPostgres(t)
	testReconcileBacklog(t, p)
}
