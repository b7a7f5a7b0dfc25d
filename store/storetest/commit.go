package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// createWrites is what a create with an Idempotency-Key commits after the
// provider answered: the payment, its check, its launch token and the
// idempotency completion.
func createWrites(id, idemKey string) *store.Writes {
	return &store.Writes{
		Payment: Payment(id, 1000),
		Checks: []*store.ReconcileCheck{{ID: id, Provider: "fake", Host: "shop.example",
			Path: "/notifications/fake", NextAt: t0, Created: t0}},
		Once:   []store.OnceWrite{{Key: "launch:" + id, Data: []byte("launch data of " + id), TTL: time.Hour}},
		Finish: &store.IdempotentFinish{Key: idemKey, Status: 201, ContentType: "application/json", Body: []byte(`{"id":"` + id + `"}` + "\n")},
	}
}

// claimAll claims every check due by far in the future, by id.
func claimAll(t *testing.T, s store.Store) map[string]*store.ReconcileCheck {
	t.Helper()
	out := map[string]*store.ReconcileCheck{}
	rq, ok := s.(store.ReconcileQueue)
	if !ok {
		return out
	}
	got, err := rq.ClaimDueChecks(context.Background(), t0.Add(1000*time.Hour), 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		out[c.ID] = c
	}
	return out
}

// testCommit: every part of a Commit lands, as its single-step method
// would have written it.
func testCommit(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Commit(ctx, &store.Writes{}); err != nil {
		t.Fatalf("empty commit: %v", err)
	}
	if _, started, err := s.BeginIdempotent(ctx, "idem:1", "fp", time.Hour); err != nil || !started {
		t.Fatalf("Begin = %v %v", started, err)
	}
	w := createWrites("pay_c1", "idem:1")
	w.Refund = refund("re_c1", "pay_c1", "rk1", 400)
	w.Payout = payout("po_c1", 700)
	w.Checks = append(w.Checks, &store.ReconcileCheck{ID: "re_c1", Provider: "fake", NextAt: t0.Add(time.Minute), Created: t0},
		&store.ReconcileCheck{ID: "po_c1", Provider: "fake", Attempts: 2, NextAt: t0.Add(time.Minute), Created: t0})
	if err := s.Commit(ctx, w); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	sameJSON(t, "committed payment", mustGet(t, s, "pay_c1"), w.Payment)
	if got, err := s.GetRefund(ctx, "re_c1"); err != nil {
		t.Fatal(err)
	} else {
		sameJSON(t, "committed refund", got, w.Refund)
	}
	if got, err := s.GetPayout(ctx, "po_c1"); err != nil {
		t.Fatal(err)
	} else {
		sameJSON(t, "committed payout", got, w.Payout)
	}
	if data, err := s.TakeOnce(ctx, "launch:pay_c1"); err != nil || string(data) != "launch data of pay_c1" {
		t.Fatalf("TakeOnce after Commit = %q, %v", data, err)
	}
	rec, started, err := s.BeginIdempotent(ctx, "idem:1", "fp", time.Hour)
	if err != nil || started || !rec.Done || rec.Status != 201 || rec.ContentType != "application/json" ||
		string(rec.Body) != string(w.Finish.Body) || rec.Fingerprint != "fp" {
		t.Fatalf("idempotency record after Commit = %+v %v %v", rec, started, err)
	}
	if _, ok := s.(store.ReconcileQueue); ok {
		checks := claimAll(t, s)
		if len(checks) != 3 || checks["pay_c1"] == nil || checks["re_c1"] == nil || checks["po_c1"] == nil {
			t.Fatalf("claimed checks %v, want pay_c1, re_c1 and po_c1", checks)
		}
		if c := checks["pay_c1"]; c.Host != "shop.example" || c.Path != "/notifications/fake" || !c.Created.Equal(t0) {
			t.Fatalf("committed check lost its fields: %+v", c)
		}
		if checks["po_c1"].Attempts != 2 {
			t.Fatalf("committed check lost its attempts: %+v", checks["po_c1"])
		}
		// A check committed again replaces the one there (ScheduleCheck).
		later := &store.ReconcileCheck{ID: "pay_c1", Provider: "fake", Attempts: 3, NextAt: t0.Add(2000 * time.Hour), Created: t0}
		if err := s.Commit(ctx, &store.Writes{Checks: []*store.ReconcileCheck{later}}); err != nil {
			t.Fatal(err)
		}
		if again := claimAll(t, s); again["pay_c1"] != nil {
			t.Fatalf("a replaced check kept its old due time: %+v", again["pay_c1"])
		}
	}
}

// testCommitFirstWriterWins: a Commit's payment and payout do not
// overwrite records already there (PutPayment, PutPayout), and the rest of
// the Commit still lands.
func testCommitFirstWriterWins(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := mustPut(t, s, Payment("pay_f", 500))
	if _, err := s.PutPayout(ctx, payout("po_f", 300)); err != nil {
		t.Fatal(err)
	}
	if _, started, err := s.BeginIdempotent(ctx, "idem:f", "fp", time.Hour); err != nil || !started {
		t.Fatalf("Begin = %v %v", started, err)
	}
	w := createWrites("pay_f", "idem:f")
	w.Payment.Amount, w.Payment.Status = 999, providers.StatusSucceeded
	w.Payout = payout("po_f", 800)
	if err := s.Commit(ctx, w); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	sameJSON(t, "payment after a second writer", mustGet(t, s, "pay_f"), first)
	if got, err := s.GetPayout(ctx, "po_f"); err != nil || got.Amount != 300 {
		t.Fatalf("payout after a second writer = %+v, %v; want the first (300)", got, err)
	}
	if rec, _, _ := s.BeginIdempotent(ctx, "idem:f", "fp", time.Hour); rec == nil || !rec.Done {
		t.Fatalf("the completion of a Commit whose payment existed was not stored: %+v", rec)
	}
	if _, err := s.TakeOnce(ctx, "launch:pay_f"); err != nil {
		t.Fatalf("the launch token of a Commit whose payment existed was not stored: %v", err)
	}
}

// testCommitAllOrNothing: a Commit with a part that fails writes none of
// its parts.
func testCommitAllOrNothing(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	e := &store.OutboxEntry{EventID: "evt_n", Provider: "fake", Body: []byte(`{}`), Server: "srv0", Host: "h", Path: "/n", NextAt: now, Created: now}
	if stored, err := s.EnqueueEvent(ctx, e); err != nil || !stored {
		t.Fatalf("Enqueue = %v %v", stored, err)
	}
	nothing := func(what string) {
		t.Helper()
		if _, err := s.GetPayment(ctx, "pay_n"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the payment was written (%v)", what, err)
		}
		if _, err := s.GetRefund(ctx, "re_n"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the refund was written (%v)", what, err)
		}
		if _, err := s.GetPayout(ctx, "po_n"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the payout was written (%v)", what, err)
		}
		if _, err := s.TakeOnce(ctx, "launch:pay_n"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the launch token was written (%v)", what, err)
		}
		if done, _ := s.Delivered(ctx, "evt_n"); done {
			t.Fatalf("%s: the delivered mark was written", what)
		}
		if n, err := s.OutboxDepth(ctx); err != nil || n != 1 {
			t.Fatalf("%s: outbox depth %d (%v), want the entry still there", what, n, err)
		}
		if checks := claimAll(t, s); len(checks) != 0 {
			t.Fatalf("%s: checks were written: %v", what, checks)
		}
	}
	full := func(idemKey string) *store.Writes {
		w := createWrites("pay_n", idemKey)
		w.Refund = refund("re_n", "pay_n", "rk", 100)
		w.Payout = payout("po_n", 100)
		w.Delivered = []string{"evt_n"}
		w.RemoveEvent = "evt_n"
		return w
	}
	// The idempotency key was never begun (or expired): its completion
	// fails, and so does the whole Commit.
	if err := s.Commit(ctx, full("idem:never")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Commit with a missing idempotency key = %v, want ErrNotFound", err)
	}
	nothing("missing idempotency key")
	if _, started, _ := s.BeginIdempotent(ctx, "idem:never", "fp", time.Hour); !started {
		t.Fatal("the failed Commit created the idempotency record")
	}
	// Bad input in any part fails the Commit before anything is written.
	if _, started, err := s.BeginIdempotent(ctx, "idem:n", "fp", time.Hour); err != nil || !started {
		t.Fatalf("Begin = %v %v", started, err)
	}
	for name, spoil := range map[string]func(w *store.Writes){
		"once without ttl":       func(w *store.Writes) { w.Once[0].TTL = 0 },
		"check without id":       func(w *store.Writes) { w.Checks = append(w.Checks, &store.ReconcileCheck{}) },
		"invalid payment":        func(w *store.Writes) { w.Payment.AmountRefunded = 5 },
		"empty delivered id":     func(w *store.Writes) { w.Delivered = append(w.Delivered, "") },
		"refund without id":      func(w *store.Writes) { w.Refund.ID = "" },
		"payout without id":      func(w *store.Writes) { w.Payout.ID = "" },
		"finish without a key":   func(w *store.Writes) { w.Finish.Key = "" },
		"negative payment":       func(w *store.Writes) { w.Payment.Amount = -1 },
		"once with an empty key": func(w *store.Writes) { w.Once[0].Key = "" },
	} {
		w := full("idem:n")
		spoil(w)
		if err := s.Commit(ctx, w); err == nil {
			t.Fatalf("Commit with %s succeeded", name)
		}
		nothing(name)
	}
	if rec, started, _ := s.BeginIdempotent(ctx, "idem:n", "fp", time.Hour); started || rec == nil || rec.Done {
		t.Fatalf("a failed Commit completed the idempotency key: %+v %v", rec, started)
	}
	// The same writes with a begun key all land.
	if err := s.Commit(ctx, full("idem:n")); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	mustGet(t, s, "pay_n")
	if done, _ := s.Delivered(ctx, "evt_n"); !done {
		t.Fatal("the delivered mark of a successful Commit is missing")
	}
}

// testCommitDelivery: after a delivery, the event and its announcement
// are marked delivered and the entry leaves the outbox, in one Commit; the
// event (or another announcing the same status) is not queued again.
func testCommitDelivery(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	e := &store.OutboxEntry{EventID: "evt_d", Announce: "announced:a", Provider: "fake", Body: []byte(`{}`),
		Server: "srv0", Host: "h", Path: "/n", NextAt: now, Created: now}
	if stored, err := s.EnqueueEvent(ctx, e); err != nil || !stored {
		t.Fatalf("Enqueue = %v %v", stored, err)
	}
	if err := s.Commit(ctx, &store.Writes{Delivered: []string{"evt_d", "announced:a"}, RemoveEvent: "evt_d"}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	for _, id := range []string{"evt_d", "announced:a"} {
		if done, err := s.Delivered(ctx, id); err != nil || !done {
			t.Fatalf("Delivered(%s) = %v %v", id, done, err)
		}
	}
	if n, err := s.OutboxDepth(ctx); err != nil || n != 0 {
		t.Fatalf("outbox depth %d (%v) after the delivery's Commit", n, err)
	}
	if got, err := s.ClaimDueEvents(ctx, now.Add(time.Hour), 10, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("claimed %d delivered entries (%v)", len(got), err)
	}
	for _, again := range []*store.OutboxEntry{e, {EventID: "evt_other", Announce: "announced:a", Provider: "fake", Body: []byte(`{}`), NextAt: now, Created: now}} {
		if stored, err := s.EnqueueEvent(ctx, again); err != nil || stored {
			t.Fatalf("Enqueue of %s after delivery = %v %v, want not stored", again.EventID, stored, err)
		}
	}
	// Removing an entry that is not queued is no error.
	if err := s.Commit(ctx, &store.Writes{RemoveEvent: "evt_gone"}); err != nil {
		t.Fatalf("Commit removing a missing entry: %v", err)
	}
}
