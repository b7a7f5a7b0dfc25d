package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// testOutboxAdmin: the operator's view of the outbox (store.OutboxAdmin).
// Listings page in due order with cursors that neither skip nor repeat an
// entry, entries with their last error; a drop removes the entry and
// keeps a record of it, atomically, and refuses an entry not queued or a
// drop without a reason; "redeliver now" (RescheduleEvent to now) makes
// the entry claimable at once.
func testOutboxAdmin(t *testing.T, s store.Store) {
	ctx := context.Background()
	adm, ok := s.(store.OutboxAdmin)
	if !ok {
		t.Fatalf("%T does not implement store.OutboxAdmin", s)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	// Seven entries; evt_b and evt_c share a due time (ids order them),
	// and a page of 2 ends between them.
	due := []struct {
		id string
		at time.Duration
	}{{"evt_e", 5 * time.Hour}, {"evt_a", time.Hour}, {"evt_c", 2 * time.Hour}, {"evt_b", 2 * time.Hour},
		{"evt_d", 3 * time.Hour}, {"evt_g", 7 * time.Hour}, {"evt_f", 6 * time.Hour}}
	for _, d := range due {
		e := &store.OutboxEntry{EventID: d.id, Provider: "payabl", EventType: "payment.succeeded", Body: []byte(`{"id":"` + d.id + `"}`),
			Server: "srv0", Host: "h", Path: "/n", NextAt: now.Add(d.at), Created: now}
		if stored, err := s.EnqueueEvent(ctx, e); err != nil || !stored {
			t.Fatalf("enqueue %s = %v, %v", d.id, stored, err)
		}
	}
	if err := s.RescheduleEvent(ctx, "evt_d", 2, now.Add(3*time.Hour), "shop answered 503"); err != nil {
		t.Fatal(err)
	}
	want := []string{"evt_a", "evt_b", "evt_c", "evt_d", "evt_e", "evt_f", "evt_g"}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("the listing does not end")
		}
		page, next, err := adm.ListOutbox(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("a page of %d entries, limit 2", len(page))
		}
		for _, e := range page {
			got = append(got, e.EventID)
			if e.EventID == "evt_d" && (e.Attempts != 2 || e.LastError != "shop answered 503" || !e.NextAt.Equal(now.Add(3*time.Hour))) {
				t.Fatalf("listed entry %+v; want attempts 2, its last error and next attempt", e)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listing in pages = %v; want %v (due order, then id)", got, want)
	}
	if _, _, err := adm.ListOutbox(ctx, "not a cursor!", 3); providers.AsError(err).Field != "cursor" {
		t.Fatalf("a malformed cursor: %v; want an error naming cursor", err)
	}

	e, err := adm.OutboxEntry(ctx, "evt_d")
	if err != nil || e.LastError != "shop answered 503" || e.Attempts != 2 || e.EventType != "payment.succeeded" {
		t.Fatalf("entry = %+v, %v", e, err)
	}
	if _, err := adm.OutboxEntry(ctx, "evt_nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown entry: %v; want ErrNotFound", err)
	}

	// Redeliver now: due at once, attempts and last error kept.
	if got, _ := s.ClaimDueEvents(ctx, now, 10, time.Minute); len(got) != 0 {
		t.Fatalf("nothing is due yet, claimed %d", len(got))
	}
	if err := s.RescheduleEvent(ctx, "evt_d", e.Attempts, now, e.LastError); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.ClaimDueEvents(ctx, now, 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].EventID != "evt_d" || claimed[0].Attempts != 2 {
		t.Fatalf("after redeliver-now, claim = %+v, %v; want evt_d", claimed, err)
	}

	// Drop: refused without a reason or for an entry not queued.
	at := now.Add(time.Minute)
	if _, err := adm.DropEvent(ctx, &store.DroppedEvent{EventID: "evt_c", DroppedAt: at}); providers.AsError(err).Field != "reason" {
		t.Fatalf("drop without a reason: %v; want an error naming reason", err)
	}
	if _, err := adm.DropEvent(ctx, &store.DroppedEvent{EventID: "evt_nope", DroppedAt: at, Reason: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("drop of an unknown entry: %v; want ErrNotFound", err)
	}
	rec, err := adm.DropEvent(ctx, &store.DroppedEvent{EventID: "evt_d", DroppedAt: at, Reason: "shop retired this order", By: "ops"})
	if err != nil || rec.EventID != "evt_d" || rec.Attempts != 2 || rec.LastError != "shop answered 503" || rec.Reason != "shop retired this order" ||
		rec.By != "ops" || !rec.DroppedAt.Equal(at) || rec.Provider != "payabl" || rec.EventType != "payment.succeeded" {
		t.Fatalf("drop = %+v, %v", rec, err)
	}
	if _, err := adm.DropEvent(ctx, &store.DroppedEvent{EventID: "evt_d", DroppedAt: at, Reason: "again"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a second drop: %v; want ErrNotFound", err)
	}
	if _, err := adm.OutboxEntry(ctx, "evt_d"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a dropped entry is still queued: %v", err)
	}
	if n, err := s.OutboxDepth(ctx); err != nil || n != 6 {
		t.Fatalf("depth after the drop = %d, %v; want 6", n, err)
	}
	if got, _ := s.ClaimDueEvents(ctx, now.Add(24*time.Hour), 10, time.Minute); len(got) != 6 {
		t.Fatalf("claimable after the drop: %d; want the 6 others", len(got))
	}
	for _, id := range []string{"evt_g", "evt_a"} {
		if _, err := adm.DropEvent(ctx, &store.DroppedEvent{EventID: id, DroppedAt: at, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	var dropped []string
	cursor = ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("the dropped listing does not end")
		}
		page, next, err := adm.ListDropped(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			dropped = append(dropped, r.EventID)
			if r.EventID == "evt_d" && (r.Reason != "shop retired this order" || r.LastError != "shop answered 503") {
				t.Fatalf("dropped record %+v", r)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(dropped) != "[evt_a evt_d evt_g]" {
		t.Fatalf("dropped listing = %v; want [evt_a evt_d evt_g]", dropped)
	}
}
