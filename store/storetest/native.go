package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/store"
)

// testNativeOriginal: an entry's native original (forward_format native)
// comes back byte for byte from every path an event takes: a claim, a
// claim after a failed attempt (RescheduleEvent), the event log
// (GetEvent) and a redelivery from the log after it was delivered; an
// entry without one has none.
func testNativeOriginal(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := eventLog(t, s)
	now := t0.Add(time.Minute)
	// Bytes JSON would alter if they went through a string: invalid
	// UTF-8, a NUL, '<' (HTML-escaped by encoding/json), CR LF.
	orig := []byte("transactionid=1&amount=1.00&x=\xff\x00<b>\r\n&security=ab")
	native := &store.NativeOriginal{Method: "POST", ContentType: "application/x-www-form-urlencoded; charset=ISO-8859-1",
		Body: orig, SignatureHeader: "X-Razorpay-Signature", Signature: "0123abcd"}
	e := &store.OutboxEntry{EventID: "evt_native", Provider: "payabl", EventType: "payment.succeeded",
		Body: []byte(`{"id":"evt_native"}`), Server: "srv0", Host: "h", Path: "/n", NextAt: now, Created: now, Native: native}
	if stored, err := s.EnqueueEvent(ctx, e); err != nil || !stored {
		t.Fatalf("enqueue = %v, %v", stored, err)
	}
	if stored, err := s.EnqueueEvent(ctx, &store.OutboxEntry{EventID: "evt_plain", Body: []byte(`{}`), NextAt: now.Add(time.Hour), Created: now}); err != nil || !stored {
		t.Fatalf("enqueue plain = %v, %v", stored, err)
	}
	check := func(what string, got *store.OutboxEntry) {
		t.Helper()
		sameJSON(t, what+": native original", got.Native, native)
		if string(got.Native.Body) != string(orig) || string(got.Body) != `{"id":"evt_native"}` {
			t.Fatalf("%s: body %q, native body %q", what, got.Body, got.Native.Body)
		}
	}
	got, err := s.ClaimDueEvents(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim = %d, %v", len(got), err)
	}
	check("claimed", got[0])
	if err := s.RescheduleEvent(ctx, e.EventID, 1, now.Add(time.Second), "shop answered 503"); err != nil {
		t.Fatal(err)
	}
	if got, err = s.ClaimDueEvents(ctx, now.Add(2*time.Second), 10, time.Minute); err != nil || len(got) != 1 {
		t.Fatalf("claim after reschedule = %d, %v", len(got), err)
	}
	check("claimed after a failed attempt", got[0])
	logged, err := l.GetEvent(ctx, e.EventID)
	if err != nil {
		t.Fatal(err)
	}
	check("logged", logged)
	if err := s.Commit(ctx, &store.Writes{Delivered: []string{e.EventID}, RemoveEvent: e.EventID}); err != nil {
		t.Fatal(err)
	}
	if err := l.RedeliverEvent(ctx, e.EventID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err = s.ClaimDueEvents(ctx, now.Add(time.Hour), 10, time.Minute); err != nil || len(got) != 2 {
		t.Fatalf("claim after redeliver = %d, %v", len(got), err)
	}
	for _, g := range got {
		switch g.EventID {
		case e.EventID:
			check("redelivered", g)
		default:
			if g.Native != nil {
				t.Fatalf("an entry without a native original has one: %+v", g.Native)
			}
		}
	}
}
