package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// rzpInspect reads the sandbox-only listing.
func (e *rzpEnv) inspect(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get(e.base + "/_sandbox/payments")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out["sandbox"].(string), "sandbox only") {
		t.Fatalf("listing not marked sandbox-only: %v", out["sandbox"])
	}
	return out
}

// viewOf finds one payment in the listing.
func (e *rzpEnv) viewOf(t *testing.T, payID string) map[string]any {
	t.Helper()
	for _, v := range e.inspect(t)["payments"].([]any) {
		m := v.(map[string]any)
		if m["payment"].(map[string]any)["id"] == payID {
			return m
		}
	}
	t.Fatalf("payment %s not in the listing", payID)
	return nil
}

func TestRazorpayBrowserApproveFlow(t *testing.T) {
	e := newRzpEnv(t, nil)
	const callback = "https://gateway.example/returns/razorpay?order_id=x"

	orderID := e.newOrder(t, 5000, "EUR", "ref-1")
	payBody := paymentBody(orderID, 5000, "EUR", callback)
	created := e.api(t, "POST", "/v1/payments/create/json", payBody).ok(t, "create/json")
	jsonPay := created.str("razorpay_payment_id")
	if order := e.api(t, "GET", "/v1/orders/"+orderID, "").ok(t, "order"); order.str("status") != "attempted" || order.num("attempts") != 1 {
		t.Fatalf("order after create/json: %s", order.raw)
	}

	// The launch: create/redirect with the same body answers the HTML
	// page that sends the browser to the checkout page.
	resp := e.api(t, "POST", "/v1/payments/create/redirect", payBody)
	if resp.status != 200 || !strings.HasPrefix(resp.header.Get("Content-Type"), "text/html") {
		t.Fatalf("create/redirect: HTTP %d %s: %s", resp.status, resp.header.Get("Content-Type"), resp.raw)
	}
	page := string(resp.raw)
	m := regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=(` + regexp.QuoteMeta(e.base) + `/checkout/[0-9a-f]{40})">`).FindStringSubmatch(page)
	if !strings.Contains(page, "Processing, Please Wait…") || m == nil || !strings.Contains(page, `<a href="`+m[1]+`">`) {
		t.Fatalf("processing page: %s", page)
	}
	checkoutURL := m[1]
	for _, secret := range []string{rzpTestKeySecret, rzpTestHookSec} {
		if strings.Contains(page, secret) {
			t.Fatal("processing page leaks a secret")
		}
	}

	status, co := getPage(t, checkoutURL)
	if status != 200 {
		t.Fatalf("checkout page HTTP %d", status)
	}
	for _, want := range []string{"SANDBOX — no real money", "50.00 EUR", orderID, "Razorpay", "Trustly", ">Approve<", ">Decline<"} {
		if !strings.Contains(co, want) {
			t.Errorf("checkout page lacks %q", want)
		}
	}
	tok := formTokenRE.FindStringSubmatch(co)
	if tok == nil {
		t.Fatal("no form token")
	}
	if r := clickButton(t, checkoutURL, "0000", "approve"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong form token: HTTP %d", r.StatusCode)
	}

	approved, err := noRedirect.PostForm(checkoutURL, url.Values{"token": {tok[1]}, "action": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(approved.Body)
	approved.Body.Close()
	if approved.StatusCode != 200 || !strings.Contains(approved.Header.Get("Content-Security-Policy"), "script-src 'nonce-") {
		t.Fatalf("approve: HTTP %d CSP %q", approved.StatusCode, approved.Header.Get("Content-Security-Policy"))
	}
	action, fields := parseCallbackPage(t, string(body))
	if action != callback {
		t.Fatalf("callback action %q, want %q", action, callback)
	}
	payID := fields.Get("razorpay_payment_id")
	if !regexp.MustCompile(`^pay_[A-Za-z0-9]{14}$`).MatchString(payID) || payID == jsonPay || fields.Get("razorpay_order_id") != orderID ||
		len(fields) != 3 {
		t.Fatalf("callback fields %v", fields)
	}
	if got, want := fields.Get("razorpay_signature"), paymentSignature(orderID, payID, rzpTestKeySecret); got != want {
		t.Fatalf("razorpay_signature %s, want %s", got, want)
	}
	if strings.Contains(string(body), rzpTestKeySecret) {
		t.Fatal("callback page leaks the key secret")
	}

	// Webhooks: authorized, captured, order.paid, each verified independently.
	ids := map[string]bool{}
	for _, ev := range []string{"payment.authorized", "payment.captured", "order.paid"} {
		h := e.hook.next(t)
		verifyHook(t, h, rzpTestHookSec, ev)
		ids[h.header.Get("X-Razorpay-Event-Id")] = true
		p := h.entity(t, "payment")
		if p["id"] != payID || p["order_id"] != orderID || p["amount"] != 5000.0 || p["currency"] != "EUR" || p["method"] != "app" || p["provider"] != "trustly" {
			t.Errorf("%s payment entity: %s", ev, h.raw)
		}
		switch ev {
		case "payment.authorized":
			if p["status"] != "authorized" || p["captured"] != false || !equalStrings(h.obj["contains"], "payment") {
				t.Errorf("authorized snapshot: %s", h.raw)
			}
		case "payment.captured":
			if p["status"] != "captured" || p["captured"] != true || p["fee"] == nil {
				t.Errorf("captured snapshot: %s", h.raw)
			}
		case "order.paid":
			o := h.entity(t, "order")
			if o["id"] != orderID || o["status"] != "paid" || o["amount_paid"] != 5000.0 || o["amount_due"] != 0.0 ||
				!equalStrings(h.obj["contains"], "payment", "order") {
				t.Errorf("order.paid: %s", h.raw)
			}
		}
	}
	if len(ids) != 3 {
		t.Fatalf("event ids not unique: %v", ids)
	}
	e.hook.none(t, 100*time.Millisecond)

	pay := e.api(t, "GET", "/v1/payments/"+payID, "").ok(t, "fetch payment")
	if pay.str("status") != "captured" || pay.obj["captured"] != true || pay.num("amount_refunded") != 0 || pay.obj["refund_status"] != nil {
		t.Fatalf("payment: %s", pay.raw)
	}
	list := e.api(t, "GET", "/v1/orders/"+orderID+"/payments", "").ok(t, "order payments")
	items := list.obj["items"].([]any)
	if list.str("entity") != "collection" || list.num("count") != 2 || items[0].(map[string]any)["id"] != payID ||
		items[0].(map[string]any)["status"] != "captured" || items[1].(map[string]any)["id"] != jsonPay || items[1].(map[string]any)["status"] != "created" {
		t.Fatalf("order payments (newest first): %s", list.raw)
	}
	if o := e.api(t, "GET", "/v1/orders/"+orderID, "").ok(t, "order"); o.str("status") != "paid" || o.num("amount_due") != 0 || o.num("attempts") != 2 {
		t.Fatalf("order: %s", o.raw)
	}

	// The deliveries and the receiver's answers are recorded.
	eventually(t, "three recorded deliveries", func() bool {
		return len(e.viewOf(t, payID)["webhooks"].([]any)) == 3
	})
	for _, d := range e.viewOf(t, payID)["webhooks"].([]any) {
		d := d.(map[string]any)
		if d["http_status"] != 200.0 || d["acknowledged"] != true || d["signed_with"] != "webhook_secret" {
			t.Errorf("delivery %v", d)
		}
	}

	// The listing never shows a secret.
	if _, listing := getPage(t, e.base+"/_sandbox/payments"); strings.Contains(listing, rzpTestKeySecret) || strings.Contains(listing, rzpTestHookSec) ||
		!strings.Contains(listing, checkoutURL) {
		t.Fatalf("listing leaks a secret or lacks the checkout URL: %s", listing)
	}

	// Deciding again is refused; so is approving the other attempt of a paid order.
	if r := clickButton(t, checkoutURL, tok[1], "decline"); r.StatusCode != http.StatusConflict {
		t.Fatalf("second click: HTTP %d", r.StatusCode)
	}
	if st, _ := e.sandboxAction(t, jsonPay, "approve"); st != http.StatusConflict {
		t.Fatalf("approving the other attempt of a paid order: HTTP %d", st)
	}
	// A paid order takes no new payment.
	wantError(t, e.api(t, "POST", "/v1/payments/create/json", payBody), 400, "order_id")
}

// equalStrings compares a decoded JSON array with want.
func equalStrings(v any, want ...string) bool {
	a, ok := v.([]any)
	if !ok || len(a) != len(want) {
		return false
	}
	for i := range a {
		if a[i] != want[i] {
			return false
		}
	}
	return true
}

func TestRazorpayDecline(t *testing.T) {
	e := newRzpEnv(t, nil)
	orderID, payID := e.newPayment(t, 2500, "https://gateway.example/ret?order_id=o")

	st, out := e.sandboxAction(t, payID, "decline")
	if st != 200 {
		t.Fatalf("decline: HTTP %d %v", st, out)
	}
	cb := out["callback"].(map[string]any)
	f := cb["fields"].(map[string]any)
	if cb["url"] != "https://gateway.example/ret?order_id=o" || cb["method"] != "POST" || cb["enctype"] != "application/x-www-form-urlencoded" {
		t.Fatalf("callback %v", cb)
	}
	if f["error[code]"] != "BAD_REQUEST_ERROR" || f["error[source]"] != "customer" || f["error[step]"] != "payment_authentication" ||
		f["error[reason]"] != "payment_cancelled" || f["error[description]"] == "" || f["razorpay_signature"] != nil {
		t.Fatalf("failure fields %v", f)
	}
	var meta map[string]string
	if err := json.Unmarshal([]byte(f["error[metadata]"].(string)), &meta); err != nil || meta["payment_id"] != payID || meta["order_id"] != orderID {
		t.Fatalf("error[metadata] %v", f["error[metadata]"])
	}

	h := e.hook.next(t)
	verifyHook(t, h, rzpTestHookSec, "payment.failed")
	p := h.entity(t, "payment")
	if p["status"] != "failed" || p["error_code"] != "BAD_REQUEST_ERROR" || p["error_reason"] != "payment_cancelled" {
		t.Fatalf("payment.failed: %s", h.raw)
	}
	e.hook.none(t, 100*time.Millisecond)

	pay := e.api(t, "GET", "/v1/payments/"+payID, "").ok(t, "fetch")
	for k, want := range map[string]any{"status": "failed", "captured": false, "error_code": "BAD_REQUEST_ERROR",
		"error_source": "customer", "error_step": "payment_authentication", "error_reason": "payment_cancelled",
		"error_description": "Your payment has been cancelled. Try again or complete the payment later.", "fee": nil} {
		if pay.obj[k] != want {
			t.Errorf("%s = %v, want %v", k, pay.obj[k], want)
		}
	}
	if o := e.api(t, "GET", "/v1/orders/"+orderID, "").ok(t, "order"); o.str("status") != "attempted" {
		t.Fatalf("order after decline: %s", o.raw)
	}
	// The poll URL reports the failure with the payment's envelope.
	r := e.api(t, "GET", "/v1/payments/"+payID+"/status", "")
	if em := wantError(t, r, 400, ""); em["metadata"].(map[string]any)["payment_id"] != payID {
		t.Fatalf("status of a failed payment: %s", r.raw)
	}
	// A declined order can be paid by a new attempt.
	r = e.api(t, "POST", "/v1/payments/create/json", paymentBody(orderID, 2500, "EUR", "")).ok(t, "retry")
	if st, out := e.sandboxAction(t, r.str("razorpay_payment_id"), "approve"); st != 200 || len(out["callback"].(map[string]any)["url"].(string)) != 0 {
		t.Fatalf("approve retry: %d %v", st, out)
	}
	if st, _ := e.sandboxAction(t, payID, "approve"); st != http.StatusConflict {
		t.Fatalf("approving a declined payment: HTTP %d", st)
	}
	if st, _ := e.sandboxAction(t, "pay_unknown0000000", "approve"); st != http.StatusNotFound {
		t.Fatalf("unknown payment: HTTP %d", st)
	}
}

func TestRazorpayManualCaptureAndNotifyDelay(t *testing.T) {
	e := newRzpEnv(t, func(h *Handler) { h.NotifyDelay = caddy.Duration(300 * time.Millisecond) })

	// Manual capture: approve stops at authorized.
	body := `{"amount":1000,"currency":"EUR","payment":{"capture":"manual","capture_options":{"manual_expiry_period":7200,"refund_speed":"optimum"}}}`
	orderID := e.api(t, "POST", "/v1/orders", body).ok(t, "order").str("id")
	r := e.api(t, "POST", "/v1/payments/create/json", paymentBody(orderID, 1000, "EUR", "https://gw.example/r")).ok(t, "pay")
	payID := r.str("razorpay_payment_id")
	if st, out := e.sandboxAction(t, payID, "approve"); st != 200 || out["callback"].(map[string]any)["fields"].(map[string]any)["razorpay_signature"] != paymentSignature(orderID, payID, rzpTestKeySecret) {
		t.Fatalf("approve: %d %v", st, out)
	}
	verifyHook(t, e.hook.next(t), rzpTestHookSec, "payment.authorized")
	e.hook.none(t, 500*time.Millisecond)
	if p := e.api(t, "GET", "/v1/payments/"+payID, "").ok(t, "fetch"); p.str("status") != "authorized" || p.obj["captured"] != false {
		t.Fatalf("manual capture payment: %s", p.raw)
	}
	if s := e.api(t, "GET", "/v1/payments/"+payID+"/status", "").ok(t, "status"); string(s.raw) != `{"razorpay_payment_id":"`+payID+`"}` {
		t.Fatalf("status: %s", s.raw)
	}
	// A second attempt on an order with an authorized payment is refused.
	wantError(t, e.api(t, "POST", "/v1/payments/create/json", paymentBody(orderID, 1000, "EUR", "")), 400, "order_id")

	wantError(t, e.api(t, "POST", "/v1/payments/"+payID+"/capture", `{"amount":999,"currency":"EUR"}`), 400, "amount")
	wantError(t, e.api(t, "POST", "/v1/payments/"+payID+"/capture", `{"amount":1000,"currency":"GBP"}`), 400, "currency")
	wantError(t, e.api(t, "POST", "/v1/payments/"+payID+"/capture", `{"amount":1000}`), 400, "currency")
	c := e.api(t, "POST", "/v1/payments/"+payID+"/capture", `{"amount":1000,"currency":"EUR"}`).ok(t, "capture")
	if c.str("status") != "captured" || c.str("entity") != "payment" {
		t.Fatalf("capture reply: %s", c.raw)
	}
	verifyHook(t, e.hook.next(t), rzpTestHookSec, "payment.captured")
	verifyHook(t, e.hook.next(t), rzpTestHookSec, "order.paid")
	again := e.api(t, "POST", "/v1/payments/"+payID+"/capture", `{"amount":1000,"currency":"EUR"}`)
	if em := wantError(t, again, 400, ""); em["description"] != "This payment has already been captured" ||
		em["metadata"].(map[string]any)["payment_id"] != strings.TrimPrefix(payID, "pay_") {
		t.Fatalf("second capture: %s", again.raw)
	}

	// Automatic capture with notify_delay: authorized first, captured later.
	_, pay2 := e.newPayment(t, 3000, "")
	wantError(t, e.api(t, "POST", "/v1/payments/"+pay2+"/capture", `{"amount":3000,"currency":"EUR"}`), 400, "")
	e.sandboxAction(t, pay2, "approve")
	if p := e.api(t, "GET", "/v1/payments/"+pay2, "").ok(t, "fetch"); p.str("status") != "authorized" {
		t.Fatalf("with notify_delay the payment is first authorized: %s", p.raw)
	}
	verifyHook(t, e.hook.next(t), rzpTestHookSec, "payment.authorized")
	verifyHook(t, e.hook.next(t), rzpTestHookSec, "payment.captured")
	verifyHook(t, e.hook.next(t), rzpTestHookSec, "order.paid")
	if p := e.api(t, "GET", "/v1/payments/"+pay2, "").ok(t, "fetch"); p.str("status") != "captured" {
		t.Fatalf("after notify_delay: %s", p.raw)
	}
}

func TestRazorpayWebhookSigningSecretAndNoURL(t *testing.T) {
	e := newRzpEnv(t, func(h *Handler) { h.Razorpay.WebhookSigningSecret = "previous-webhook-secret" })
	_, payID := e.newPayment(t, 2000, "")
	e.sandboxAction(t, payID, "decline")
	h := e.hook.next(t)
	verifyHook(t, h, "previous-webhook-secret", "payment.failed")
	// Signed with the signing secret only, not with webhook_secret.
	if h.header.Get("X-Razorpay-Signature") == rzpSign(rzpTestHookSec, h.raw) || strings.Contains(string(h.raw), "previous-webhook-secret") {
		t.Fatal("signed with webhook_secret, or the secret leaked")
	}
	eventually(t, "recorded delivery", func() bool { return len(e.viewOf(t, payID)["webhooks"].([]any)) == 1 })
	if d := e.viewOf(t, payID)["webhooks"].([]any)[0].(map[string]any); d["signed_with"] != "webhook_signing_secret" {
		t.Fatalf("delivery %v", d)
	}

	// A receiver that refuses is recorded as not acknowledged.
	e.hook.mu.Lock()
	e.hook.status = http.StatusInternalServerError
	e.hook.mu.Unlock()
	_, pay2 := e.newPayment(t, 2000, "")
	e.sandboxAction(t, pay2, "decline")
	e.hook.next(t)
	eventually(t, "recorded failure", func() bool { return len(e.viewOf(t, pay2)["webhooks"].([]any)) == 1 })
	if d := e.viewOf(t, pay2)["webhooks"].([]any)[0].(map[string]any); d["http_status"] != 500.0 || d["acknowledged"] != false {
		t.Fatalf("delivery %v", d)
	}

	// Without webhook_url nothing is sent, and the listing says so.
	e2 := newRzpEnv(t, func(h *Handler) { h.Razorpay.WebhookURL = "" })
	_, pay3 := e2.newPayment(t, 2000, "")
	e2.sandboxAction(t, pay3, "decline")
	eventually(t, "recorded non-delivery", func() bool { return len(e2.viewOf(t, pay3)["webhooks"].([]any)) == 1 })
	if d := e2.viewOf(t, pay3)["webhooks"].([]any)[0].(map[string]any); !strings.Contains(d["error"].(string), "no webhook_url") {
		t.Fatalf("delivery %v", d)
	}
	e2.hook.none(t, 100*time.Millisecond)
}
