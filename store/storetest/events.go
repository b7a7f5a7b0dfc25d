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

// eventLog is s as a store.EventLog (every store implements it).
func eventLog(t *testing.T, s store.Store) store.EventLog {
	t.Helper()
	l, ok := s.(store.EventLog)
	if !ok {
		t.Fatalf("%T does not implement store.EventLog", s)
	}
	return l
}

// logEvent queues event n: created t0+n seconds, type payment.succeeded
// for even n (payment.failed for odd), provider "a" for n < 10 ("b"
// after), about object obj_(n%3).
func logEvent(t *testing.T, s store.Store, n int) *store.OutboxEntry {
	t.Helper()
	typ := "payment.succeeded"
	if n%2 == 1 {
		typ = "payment.failed"
	}
	prov := "a"
	if n >= 10 {
		prov = "b"
	}
	id := fmt.Sprintf("evt_%02d", n)
	at := t0.Add(time.Duration(n) * time.Second)
	e := &store.OutboxEntry{EventID: id, Provider: prov, EventType: typ,
		Body:   []byte(fmt.Sprintf(`{"id":%q,"type":%q,"data":{"id":"obj_%d","amount":%d}}`, id, typ, n%3, n)),
		Server: "srv0", Host: "shop.example", Path: "/notifications/" + prov, NextAt: at.Add(time.Hour), Created: at}
	if stored, err := s.EnqueueEvent(context.Background(), e); err != nil || !stored {
		t.Fatalf("enqueue %s = %v, %v", id, stored, err)
	}
	return e
}

func eventIDs(p *store.EventPage) []string {
	var out []string
	for _, e := range p.Events {
		out = append(out, e.EventID)
	}
	return out
}

func wantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func listEvents(t *testing.T, l store.EventLog, q store.ListQuery) *store.EventPage {
	t.Helper()
	p, err := l.ListEvents(context.Background(), q)
	if err != nil {
		t.Fatalf("ListEvents(%+v): %v", q, err)
	}
	return p
}

// testEventLog: every queued event is logged with its body as queued, and
// listed newest first with cursor pagination that inserts between pages
// do not disturb; filters and time bounds select; bad queries are refused
// naming the parameter.
func testEventLog(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := eventLog(t, s)
	var evs []*store.OutboxEntry
	for n := range 25 {
		evs = append(evs, logEvent(t, s, n))
	}
	// A refused enqueue (the id is queued) logs nothing new.
	if stored, _ := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_03", Body: []byte(`{"other":1}`), NextAt: t0, Created: t0.Add(time.Hour)}); stored {
		t.Fatal("a queued id was queued again")
	}
	got, err := l.GetEvent(ctx, "evt_03")
	if err != nil || string(got.Body) != string(evs[3].Body) || got.EventType != "payment.failed" || !got.Created.Equal(evs[3].Created) {
		t.Fatalf("GetEvent(evt_03) = %+v, %v; want the first entry", got, err)
	}
	if _, err := l.GetEvent(ctx, "evt_nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetEvent of an unknown id: %v, want ErrNotFound", err)
	}

	p1 := listEvents(t, l, store.ListQuery{Limit: 10})
	wantIDs(t, "page 1", eventIDs(p1), "evt_24", "evt_23", "evt_22", "evt_21", "evt_20", "evt_19", "evt_18", "evt_17", "evt_16", "evt_15")
	if !p1.HasMore || p1.NextCursor == "" {
		t.Fatalf("page 1 has_more %v cursor %q", p1.HasMore, p1.NextCursor)
	}
	// Newer and older events arrive between the pages: the walk goes on
	// where it stopped, and meets the older one in its place.
	logEvent(t, s, 40)
	if _, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_12b", EventType: "payment.succeeded", Provider: "b",
		Body: []byte(`{"id":"evt_12b","data":{"id":"obj_x"}}`), NextAt: t0, Created: t0.Add(12*time.Second + time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	p2 := listEvents(t, l, store.ListQuery{Limit: 10, Cursor: p1.NextCursor})
	wantIDs(t, "page 2", eventIDs(p2), "evt_14", "evt_13", "evt_12b", "evt_12", "evt_11", "evt_10", "evt_09", "evt_08", "evt_07", "evt_06")
	p3 := listEvents(t, l, store.ListQuery{Limit: 10, Cursor: p2.NextCursor})
	wantIDs(t, "page 3", eventIDs(p3), "evt_05", "evt_04", "evt_03", "evt_02", "evt_01", "evt_00")
	if p3.HasMore || p3.NextCursor != "" {
		t.Fatalf("last page has_more %v cursor %q", p3.HasMore, p3.NextCursor)
	}
	if string(p3.Events[2].Body) != string(evs[3].Body) {
		t.Fatalf("listed body %s, want %s", p3.Events[2].Body, evs[3].Body)
	}
	// Exactly limit left: no further page.
	p := listEvents(t, l, store.ListQuery{Limit: 3, CreatedLT: t0.Add(3 * time.Second)})
	wantIDs(t, "created_lt", eventIDs(p), "evt_02", "evt_01", "evt_00")
	if p.HasMore {
		t.Fatal("has_more with nothing left")
	}

	// Filters, alone and together, across pages.
	p = listEvents(t, l, store.ListQuery{Type: "payment.failed", Provider: "a", Limit: 3})
	wantIDs(t, "type+provider", eventIDs(p), "evt_09", "evt_07", "evt_05")
	p = listEvents(t, l, store.ListQuery{Type: "payment.failed", Provider: "a", Limit: 3, Cursor: p.NextCursor})
	wantIDs(t, "type+provider page 2", eventIDs(p), "evt_03", "evt_01")
	if p.HasMore {
		t.Fatal("filtered last page has more")
	}
	p = listEvents(t, l, store.ListQuery{ObjectID: "obj_1", CreatedGTE: t0.Add(10 * time.Second), CreatedLT: t0.Add(20 * time.Second)})
	wantIDs(t, "object_id in [10s, 20s)", eventIDs(p), "evt_19", "evt_16", "evt_13", "evt_10")
	p = listEvents(t, l, store.ListQuery{Type: "no.such.type"})
	if len(p.Events) != 0 || p.HasMore {
		t.Fatalf("unknown type listed %v (has_more %v)", eventIDs(p), p.HasMore)
	}

	for _, bad := range []struct {
		q     store.ListQuery
		field string
	}{
		{store.ListQuery{Limit: 101}, "limit"},
		{store.ListQuery{Limit: -1}, "limit"},
		{store.ListQuery{Cursor: "not a cursor"}, "cursor"},
		{store.ListQuery{Cursor: "MTIz"}, "cursor"},
	} {
		_, err := l.ListEvents(ctx, bad.q)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Field != bad.field {
			t.Fatalf("ListEvents(%+v) = %v; want an error naming %s", bad.q, err, bad.field)
		}
	}
}

// testEventLogPrune: pruning removes the oldest events created before the
// bound, at most limit at a time, and nothing newer.
func testEventLogPrune(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := eventLog(t, s)
	for n := range 12 {
		logEvent(t, s, n)
	}
	bound := t0.Add(5 * time.Second)
	if n, err := l.PruneEvents(ctx, bound, 3); err != nil || n != 3 {
		t.Fatalf("prune = %d, %v; want 3", n, err)
	}
	if _, err := l.GetEvent(ctx, "evt_02"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pruned event: %v", err)
	}
	if n, err := l.PruneEvents(ctx, bound, 100); err != nil || n != 2 {
		t.Fatalf("prune again = %d, %v; want 2", n, err)
	}
	if n, err := l.PruneEvents(ctx, bound, 100); err != nil || n != 0 {
		t.Fatalf("prune with nothing expired = %d, %v", n, err)
	}
	p := listEvents(t, l, store.ListQuery{Limit: 100})
	wantIDs(t, "after pruning", eventIDs(p), "evt_11", "evt_10", "evt_09", "evt_08", "evt_07", "evt_06", "evt_05")
	if err := l.RedeliverEvent(ctx, "evt_00", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeliver of a pruned event: %v", err)
	}
}

// testEventRedeliver: a delivered event is queued again with the same id
// and body; a queued one is made due now; an unknown one is ErrNotFound.
func testEventRedeliver(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := eventLog(t, s)
	e := logEvent(t, s, 1)
	logEvent(t, s, 2)
	// Delivered as the worker does it: marked and removed.
	if err := s.Commit(ctx, &store.Writes{Delivered: []string{e.EventID}, RemoveEvent: e.EventID}); err != nil {
		t.Fatal(err)
	}
	if stored, _ := s.EnqueueEvent(ctx, e); stored {
		t.Fatal("a delivered event was queued by EnqueueEvent")
	}
	now := t0.Add(30 * time.Second) // before evt_02's next attempt
	if got, _ := s.ClaimDueEvents(ctx, now, 10, time.Minute); len(got) != 0 {
		t.Fatalf("due before redeliver: %d", len(got))
	}
	if err := l.RedeliverEvent(ctx, e.EventID, now); err != nil {
		t.Fatal(err)
	}
	// evt_02 is still queued after failed attempts: redeliver makes it due
	// now and keeps its record (attempts, last error), on every store.
	if err := s.RescheduleEvent(ctx, "evt_02", 3, t0.Add(time.Hour), "shop answered 503"); err != nil {
		t.Fatal(err)
	}
	if err := l.RedeliverEvent(ctx, "evt_02", now); err != nil { // queued, due in an hour
		t.Fatal(err)
	}
	got, err := s.ClaimDueEvents(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("claim after redeliver = %d entries, %v; want 2", len(got), err)
	}
	for _, g := range got {
		if g.EventID == e.EventID && (string(g.Body) != string(e.Body) || g.Attempts != 0 || g.Host != e.Host || g.Path != e.Path || g.Server != e.Server) {
			t.Fatalf("redelivered entry %+v, want the logged one", g)
		}
		if g.EventID == "evt_02" && (g.Attempts != 3 || g.LastError != "shop answered 503") {
			t.Fatalf("queued entry after redeliver: attempts %d, last_error %q; want its record kept (3, %q)", g.Attempts, g.LastError, "shop answered 503")
		}
	}
	if n, _ := s.OutboxDepth(ctx); n != 2 {
		t.Fatalf("outbox depth %d, want 2", n)
	}
	if err := l.RedeliverEvent(ctx, "evt_nope", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeliver unknown: %v", err)
	}
	// The log keeps one entry per event.
	p := listEvents(t, l, store.ListQuery{})
	wantIDs(t, "log after redeliveries", eventIDs(p), "evt_02", "evt_01")
}

// testPaymentList: payments stored by PutPayment and by Commit are listed
// newest first, with filters, cursor pagination and time bounds; a
// second writer of an id adds no entry.
func testPaymentList(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := eventLog(t, s)
	for n := range 8 {
		p := Payment(fmt.Sprintf("pay_%d", n), 1000)
		p.CreatedAt = t0.Add(time.Duration(n) * time.Minute)
		if n%2 == 1 {
			p.Provider = "payabl"
		}
		if n == 7 {
			if err := s.Commit(ctx, &store.Writes{Payment: p}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := s.PutPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	dup := Payment("pay_3", 5)
	dup.CreatedAt = t0.Add(time.Hour)
	if _, err := s.PutPayment(ctx, dup); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &store.Writes{Payment: dup}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ApplyPaymentStatus(ctx, "pay_5", providers.StatusSucceeded, true, store.StatusChange{Source: "fetch"}); err != nil {
		t.Fatal(err)
	}
	ids := func(p *store.PaymentPage) []string {
		var out []string
		for _, r := range p.Payments {
			out = append(out, r.ID)
		}
		return out
	}
	list := func(q store.ListQuery) *store.PaymentPage {
		t.Helper()
		p, err := l.ListPayments(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := list(store.ListQuery{Limit: 5})
	wantIDs(t, "payments page 1", ids(p), "pay_7", "pay_6", "pay_5", "pay_4", "pay_3")
	if !p.HasMore || p.Payments[4].Amount != 1000 {
		t.Fatalf("page 1: has_more %v, pay_3 %+v", p.HasMore, p.Payments[4])
	}
	p = list(store.ListQuery{Limit: 5, Cursor: p.NextCursor})
	wantIDs(t, "payments page 2", ids(p), "pay_2", "pay_1", "pay_0")
	if p.HasMore {
		t.Fatal("last payments page has more")
	}
	wantIDs(t, "provider filter", ids(list(store.ListQuery{Provider: "payabl"})), "pay_7", "pay_5", "pay_3", "pay_1")
	wantIDs(t, "status filter", ids(list(store.ListQuery{Status: "succeeded"})), "pay_5")
	wantIDs(t, "created range", ids(list(store.ListQuery{CreatedGTE: t0.Add(2 * time.Minute), CreatedLT: t0.Add(4 * time.Minute)})), "pay_3", "pay_2")
	// Bounds beyond int64 nanoseconds (before 1678, after 2262: a
	// report's "from the beginning" / "until the end of time") bound
	// nothing, rather than wrapping around.
	far := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	long := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	wantIDs(t, "created_lt 9999", ids(list(store.ListQuery{Limit: 3, CreatedLT: far})), "pay_7", "pay_6", "pay_5")
	wantIDs(t, "created_gte 1600", ids(list(store.ListQuery{Limit: 3, CreatedGTE: long})), "pay_7", "pay_6", "pay_5")
	wantIDs(t, "created_gte 9999", ids(list(store.ListQuery{CreatedGTE: far})))
	wantIDs(t, "created_lt 1600", ids(list(store.ListQuery{CreatedLT: long})))
	if _, err := l.ListPayments(ctx, store.ListQuery{Limit: 1000}); err == nil {
		t.Fatal("limit 1000 accepted")
	}
}

// testListingCursorsAreTheirOwn: a cursor continues the listing that issued
// it; given to the other listing it is refused, naming cursor, instead of
// being taken as a position there.
func testListingCursorsAreTheirOwn(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := eventLog(t, s)
	for n := range 3 {
		logEvent(t, s, n)
		p := Payment(fmt.Sprintf("pay_c%d", n), 1000)
		p.CreatedAt = t0.Add(time.Duration(n) * time.Minute)
		if _, err := s.PutPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := l.ListEvents(ctx, store.ListQuery{Limit: 1})
	if err != nil || !ev.HasMore || ev.NextCursor == "" {
		t.Fatalf("events page 1: %+v, %v", ev, err)
	}
	pay, err := l.ListPayments(ctx, store.ListQuery{Limit: 1})
	if err != nil || !pay.HasMore || pay.NextCursor == "" {
		t.Fatalf("payments page 1: %+v, %v", pay, err)
	}
	if p, err := l.ListEvents(ctx, store.ListQuery{Limit: 1, Cursor: ev.NextCursor}); err != nil || len(p.Events) != 1 {
		t.Fatalf("events page 2 with its own cursor: %+v, %v", p, err)
	}
	if p, err := l.ListPayments(ctx, store.ListQuery{Limit: 1, Cursor: pay.NextCursor}); err != nil || len(p.Payments) != 1 {
		t.Fatalf("payments page 2 with its own cursor: %+v, %v", p, err)
	}
	var pe *providers.Error
	if _, err := l.ListEvents(ctx, store.ListQuery{Cursor: pay.NextCursor}); !errors.As(err, &pe) || pe.Field != "cursor" {
		t.Errorf("ListEvents with a payments cursor = %v; want an error naming cursor", err)
	}
	if _, err := l.ListPayments(ctx, store.ListQuery{Cursor: ev.NextCursor}); !errors.As(err, &pe) || pe.Field != "cursor" {
		t.Errorf("ListPayments with an events cursor = %v; want an error naming cursor", err)
	}
}
