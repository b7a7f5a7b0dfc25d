package sandbox

import (
	"strings"
	"testing"
	"time"
)

// capturedPayment creates and approves a payment and drains its webhooks.
func (e *rzpEnv) capturedPayment(t *testing.T, amount int64) (orderID, payID string) {
	t.Helper()
	orderID, payID = e.newPayment(t, amount, "")
	if st, out := e.sandboxAction(t, payID, "approve"); st != 200 {
		t.Fatalf("approve: %d %v", st, out)
	}
	for range 3 {
		e.hook.next(t)
	}
	return orderID, payID
}

func TestRazorpayRefunds(t *testing.T) {
	e := newRzpEnv(t, nil)

	// Only captured payments can be refunded.
	_, created := e.newPayment(t, 5000, "")
	wantError(t, e.api(t, "POST", "/v1/payments/"+created+"/refund", `{"amount":100}`), 400, "")
	wantError(t, e.api(t, "POST", "/v1/payments/pay_doesnotexist00/refund", `{"amount":100}`), 400, "")

	_, payID := e.capturedPayment(t, 5000)
	path := "/v1/payments/" + payID + "/refund"

	// Validation.
	for _, c := range []struct{ body, field string }{
		{`{"amount":0}`, "amount"},
		{`{"amount":-5}`, "amount"},
		{`{"amount":"100"}`, "amount"},
		{`{"amount":100,"speed":"fast"}`, "speed"},
		{`{"amount":100,"notes":"x"}`, "notes"},
		{`{"amount":100,"receipt":7}`, "receipt"},
		{`{"amount":100,"currency":"EUR"}`, "currency"},
		{`{"amount":5001}`, "amount"},
	} {
		wantError(t, e.api(t, "POST", path, c.body), 400, c.field)
	}
	for _, key := range []string{"short", "has space in it!", "ümlaut-key-123"} {
		wantError(t, e.api(t, "POST", path, `{"amount":100}`, "X-Refund-Idempotency", key), 400, "X-Refund-Idempotency")
	}

	// A partial refund under an idempotency key.
	const key = "refund-key-0001"
	r1 := e.api(t, "POST", path, `{"amount":1000,"notes":{"reason":"damaged"},"receipt":"rf-1"}`, "X-Refund-Idempotency", key).ok(t, "refund 1")
	rid := r1.str("id")
	if r1.num("amount") != 1000 || r1.str("status") != "processed" || r1.str("speed_requested") != "normal" || r1.str("receipt") != "rf-1" {
		t.Fatalf("refund: %s", r1.raw)
	}
	for _, ev := range []string{"refund.created", "refund.processed"} {
		h := e.hook.next(t)
		verifyHook(t, h, rzpTestHookSec, ev)
		if !equalStrings(h.obj["contains"], "refund", "payment") || h.entity(t, "refund")["id"] != rid ||
			h.entity(t, "payment")["amount_refunded"] != 1000.0 || h.entity(t, "payment")["refund_status"] != "partial" {
			t.Fatalf("%s: %s", ev, h.raw)
		}
	}
	// The same key and body (spaced differently) answer the same refund, with no new webhooks.
	r2 := e.api(t, "POST", path, `{ "receipt":"rf-1", "notes":{"reason":"damaged"}, "amount":1000 }`, "X-Refund-Idempotency", key).ok(t, "retry")
	if r2.str("id") != rid || string(r2.raw) != string(r1.raw) {
		t.Fatalf("idempotent retry\n got %s\nwant %s", r2.raw, r1.raw)
	}
	e.hook.none(t, 100*time.Millisecond)
	// The same key with another body, or another payment, is refused.
	r3 := e.api(t, "POST", path, `{"amount":999}`, "X-Refund-Idempotency", key)
	if em := wantError(t, r3, 400, ""); !strings.Contains(em["description"].(string), "same idempotency key") {
		t.Fatalf("same key, other body: %s", r3.raw)
	}
	_, other := e.capturedPayment(t, 5000)
	wantError(t, e.api(t, "POST", "/v1/payments/"+other+"/refund", `{"amount":1000,"notes":{"reason":"damaged"},"receipt":"rf-1"}`,
		"X-Refund-Idempotency", key), 400, "")
	// A duplicate receipt on the same payment is refused.
	wantError(t, e.api(t, "POST", path, `{"amount":100,"receipt":"rf-1"}`), 400, "receipt")

	// Over-refund: 4001 > the 4000 left.
	over := e.api(t, "POST", path, `{"amount":4001}`)
	if em := wantError(t, over, 400, "amount"); em["description"] != "The refund amount provided is greater than amount captured" {
		t.Fatalf("over-refund: %s", over.raw)
	}
	// No amount: the rest.
	rest := e.api(t, "POST", path, `{}`, "X-Refund-Idempotency", "refund-key-0002").ok(t, "rest")
	if rest.num("amount") != 4000 {
		t.Fatalf("rest refund: %s", rest.raw)
	}
	e.hook.next(t)
	e.hook.next(t)
	pay := e.api(t, "GET", "/v1/payments/"+payID, "").ok(t, "payment")
	if pay.str("status") != "refunded" || pay.num("amount_refunded") != 5000 || pay.str("refund_status") != "full" || pay.obj["captured"] != true {
		t.Fatalf("fully refunded payment: %s", pay.raw)
	}
	wantError(t, e.api(t, "POST", path, `{"amount":1}`), 400, "amount")
	wantError(t, e.api(t, "POST", path, `{}`), 400, "amount")
	wantError(t, e.api(t, "POST", path, ``), 400, "amount") // no body: the (empty) rest
	wantError(t, e.api(t, "POST", path, `{`), 400, "")

	// Reads.
	if f := e.api(t, "GET", "/v1/refunds/"+rid, "").ok(t, "fetch refund"); string(f.raw) != string(r1.raw) {
		t.Fatalf("fetch refund %s", f.raw)
	}
	if f := e.api(t, "GET", "/v1/payments/"+payID+"/refunds/"+rid, "").ok(t, "fetch refund of payment"); f.str("id") != rid {
		t.Fatalf("fetch refund of payment %s", f.raw)
	}
	wantError(t, e.api(t, "GET", "/v1/payments/"+other+"/refunds/"+rid, ""), 400, "")
	l := e.api(t, "GET", "/v1/payments/"+payID+"/refunds", "").ok(t, "list")
	items := l.obj["items"].([]any)
	if l.num("count") != 2 || items[0].(map[string]any)["id"] != rest.str("id") || items[1].(map[string]any)["id"] != rid {
		t.Fatalf("refund list (newest first): %s", l.raw)
	}
	if l := e.api(t, "GET", "/v1/payments/"+payID+"/refunds?count=1&skip=1", "").ok(t, "page"); l.num("count") != 1 ||
		l.obj["items"].([]any)[0].(map[string]any)["id"] != rid {
		t.Fatalf("refund page: %s", l.raw)
	}
	wantError(t, e.api(t, "GET", "/v1/payments/"+payID+"/refunds?count=101", ""), 400, "count")
	wantError(t, e.api(t, "GET", "/v1/payments/"+payID+"/refunds?foo=1", ""), 400, "foo")
}

func TestRazorpayOrderLookupByReceipt(t *testing.T) {
	e := newRzpEnv(t, nil)
	first := e.newOrder(t, 1000, "EUR", "dup-receipt")
	e.newOrder(t, 1000, "EUR", "other")
	second := e.newOrder(t, 2000, "EUR", "dup-receipt")
	l := e.api(t, "GET", "/v1/orders?receipt=dup-receipt", "").ok(t, "by receipt")
	items := l.obj["items"].([]any)
	if l.str("entity") != "collection" || l.num("count") != 2 || items[0].(map[string]any)["id"] != second || items[1].(map[string]any)["id"] != first {
		t.Fatalf("orders by receipt (newest first): %s", l.raw)
	}
	if l := e.api(t, "GET", "/v1/orders?receipt=none", "").ok(t, "none"); l.num("count") != 0 || string(l.raw) != `{"entity":"collection","count":0,"items":[]}` {
		t.Fatalf("no match: %s", l.raw)
	}
	if l := e.api(t, "GET", "/v1/orders", "").ok(t, "all"); l.num("count") != 3 {
		t.Fatalf("all orders: %s", l.raw)
	}
	if l := e.api(t, "GET", "/v1/orders?from=1&to=1", "").ok(t, "window"); l.num("count") != 0 {
		t.Fatalf("from/to: %s", l.raw)
	}
	wantError(t, e.api(t, "GET", "/v1/orders?from=yesterday", ""), 400, "from")
	wantError(t, e.api(t, "GET", "/v1/orders?status=paid", ""), 400, "status")
}
