package sandbox

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestRazorpayMagicValuesListed(t *testing.T) {
	want := map[string]int64{"1313": rzpMagicDecline, "1212": rzpMagicSlow, "1111": rzpMagicGarbage,
		"1414": rzpMagicDuplicate, "1515": rzpMagicLateAuth, "1616": rzpMagicRefundFail, "1717": rzpMagicOrderRefuse}
	seen := map[string]bool{}
	for _, m := range MagicValues() {
		if m.Provider != "razorpay" {
			continue
		}
		v, ok := want[m.Value]
		if !ok || strconv.FormatInt(v, 10) != m.Value || m.Field != "amount" || m.Effect == "" || m.Operation == "" {
			t.Errorf("unexpected magic value %+v", m)
		}
		seen[m.Value] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("listed %v, want %v", seen, want)
	}
}

func TestRazorpayMagicDecline(t *testing.T) {
	e := newRzpEnv(t, nil)
	for _, variant := range []string{"json", "redirect"} {
		orderID := e.newOrder(t, rzpMagicDecline, "EUR", "m-1313")
		r := e.api(t, "POST", "/v1/payments/create/"+variant, paymentBody(orderID, rzpMagicDecline, "EUR", ""))
		em := wantError(t, r, 400, "")
		meta := em["metadata"].(map[string]any)
		if em["description"] != "Payment failed" || em["source"] != "bank" || em["step"] != "payment_authorization" ||
			em["reason"] != "payment_failed" || meta["order_id"] != orderID || !strings.HasPrefix(meta["payment_id"].(string), "pay_") {
			t.Fatalf("%s decline: %s", variant, r.raw)
		}
		payID := meta["payment_id"].(string)
		h := e.hook.next(t)
		verifyHook(t, h, rzpTestHookSec, "payment.failed")
		if h.entity(t, "payment")["id"] != payID {
			t.Fatalf("payment.failed for another payment: %s", h.raw)
		}
		l := e.api(t, "GET", "/v1/orders/"+orderID+"/payments", "").ok(t, "payments")
		if l.num("count") != 1 || l.obj["items"].([]any)[0].(map[string]any)["status"] != "failed" {
			t.Fatalf("order payments after decline: %s", l.raw)
		}
	}
}

// The create-outcome magic values act on the order create, the only call
// the gateway's create makes.
func TestRazorpayMagicSlowAndGarbage(t *testing.T) {
	e := newRzpEnv(t, nil) // slow_delay 300ms

	req, _ := http.NewRequest("POST", e.base+"/v1/orders", strings.NewReader(`{"amount":1212,"currency":"EUR","receipt":"m-1212"}`))
	req.Header.Set("Authorization", basic(rzpTestKeyID, rzpTestKeySecret))
	req.Header.Set("Content-Type", "application/json")
	impatient := &http.Client{Timeout: 100 * time.Millisecond}
	if resp, err := impatient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the slow magic value answered within 100ms")
	}
	// The order exists although the client gave up.
	l := e.api(t, "GET", "/v1/orders?receipt=m-1212", "").ok(t, "orders")
	if l.num("count") != 1 || l.obj["items"].([]any)[0].(map[string]any)["status"] != "created" {
		t.Fatalf("slow: orders %s", l.raw)
	}
	// A patient client gets the ordinary reply after slow_delay.
	start := time.Now()
	r := e.api(t, "POST", "/v1/orders", `{"amount":1212,"currency":"EUR","receipt":"m-1212b"}`).ok(t, "slow")
	if time.Since(start) < 300*time.Millisecond || !strings.HasPrefix(r.str("id"), "order_") {
		t.Fatalf("slow reply after %v: %s", time.Since(start), r.raw)
	}

	g := e.api(t, "POST", "/v1/orders", `{"amount":1111,"currency":"EUR","receipt":"m-1111"}`)
	if g.status != 200 || string(g.raw) != "<html>oops" {
		t.Fatalf("garbage: HTTP %d %q", g.status, g.raw)
	}
	if l := e.api(t, "GET", "/v1/orders?receipt=m-1111", "").ok(t, "orders"); l.num("count") != 0 {
		t.Fatalf("garbage created an order: %s", l.raw)
	}

	refused := e.api(t, "POST", "/v1/orders", `{"amount":1717,"currency":"EUR","receipt":"m-1717"}`)
	em := wantError(t, refused, 400, "")
	if em["code"] != "BAD_REQUEST_ERROR" || em["source"] != "business" || em["reason"] != "NA" {
		t.Fatalf("refused order: %s", refused.raw)
	}
	if l := e.api(t, "GET", "/v1/orders?receipt=m-1717", "").ok(t, "orders"); l.num("count") != 0 {
		t.Fatalf("a refused order was created: %s", l.raw)
	}
}

func TestRazorpayMagicDuplicateWebhooks(t *testing.T) {
	e := newRzpEnv(t, nil)
	_, payID := e.newPayment(t, rzpMagicDuplicate, "")
	e.sandboxAction(t, payID, "approve")
	for _, ev := range []string{"payment.authorized", "payment.captured", "order.paid"} {
		a, b := e.hook.next(t), e.hook.next(t)
		verifyHook(t, a, rzpTestHookSec, ev)
		verifyHook(t, b, rzpTestHookSec, ev)
		if a.header.Get("X-Razorpay-Event-Id") != b.header.Get("X-Razorpay-Event-Id") || !bytes.Equal(a.raw, b.raw) {
			t.Fatalf("duplicate differs:\n%s\n%s", a.raw, b.raw)
		}
	}
	// Refund webhooks of the payment are duplicated too.
	e.api(t, "POST", "/v1/payments/"+payID+"/refund", `{"amount":100}`).ok(t, "refund")
	for _, ev := range []string{"refund.created", "refund.created", "refund.processed", "refund.processed"} {
		verifyHook(t, e.hook.next(t), rzpTestHookSec, ev)
	}
	e.hook.none(t, 100*time.Millisecond)
	eventually(t, "ten deliveries recorded", func() bool { return len(e.viewOf(t, payID)["webhooks"].([]any)) == 10 })
}

func TestRazorpayMagicLateAuthorisation(t *testing.T) {
	e := newRzpEnv(t, func(h *Handler) { h.NotifyDelay = caddy.Duration(200 * time.Millisecond) })
	orderID, payID := e.newPayment(t, rzpMagicLateAuth, "https://gw.example/r?order_id=1")
	st, out := e.sandboxAction(t, payID, "approve")
	if st != 200 {
		t.Fatalf("approve: %d %v", st, out)
	}
	// The customer returns with a failure.
	f := out["callback"].(map[string]any)["fields"].(map[string]any)
	if f["error[code]"] != "BAD_REQUEST_ERROR" || f["error[reason]"] != "payment_failed" || f["razorpay_signature"] != nil {
		t.Fatalf("late-auth callback %v", f)
	}
	h := e.hook.next(t)
	verifyHook(t, h, rzpTestHookSec, "payment.failed")
	if p := e.api(t, "GET", "/v1/payments/"+payID, "").ok(t, "fetch"); p.str("status") != "failed" {
		t.Fatalf("before the late authorisation: %s", p.raw)
	}
	for _, ev := range []string{"payment.authorized", "payment.captured", "order.paid"} {
		h := e.hook.next(t)
		verifyHook(t, h, rzpTestHookSec, ev)
		if ev == "payment.authorized" && h.entity(t, "payment")["error_code"] != nil {
			t.Fatalf("authorized snapshot keeps the error: %s", h.raw)
		}
	}
	p := e.api(t, "GET", "/v1/payments/"+payID, "").ok(t, "fetch")
	if p.str("status") != "captured" || p.obj["error_code"] != nil {
		t.Fatalf("after the late authorisation: %s", p.raw)
	}
	if o := e.api(t, "GET", "/v1/orders/"+orderID, "").ok(t, "order"); o.str("status") != "paid" {
		t.Fatalf("order: %s", o.raw)
	}
}

func TestRazorpayMagicRefundFailure(t *testing.T) {
	e := newRzpEnv(t, nil)
	_, payID := e.capturedPayment(t, 5000)
	r := e.api(t, "POST", "/v1/payments/"+payID+"/refund", `{"amount":1616}`).ok(t, "refund")
	if r.str("status") != "pending" {
		t.Fatalf("magic refund: %s", r.raw)
	}
	verifyHook(t, e.hook.next(t), rzpTestHookSec, "refund.created")
	h := e.hook.next(t)
	verifyHook(t, h, rzpTestHookSec, "refund.failed")
	if h.entity(t, "refund")["status"] != "failed" || h.entity(t, "payment")["amount_refunded"] != 0.0 {
		t.Fatalf("refund.failed: %s", h.raw)
	}
	if f := e.api(t, "GET", "/v1/refunds/"+r.str("id"), "").ok(t, "fetch"); f.str("status") != "failed" {
		t.Fatalf("refund: %s", f.raw)
	}
	// The whole amount is refundable again.
	e.api(t, "POST", "/v1/payments/"+payID+"/refund", `{"amount":5000}`).ok(t, "full refund")
}
