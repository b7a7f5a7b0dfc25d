package caddymodule

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The Razorpay account of these tests (the sandbox's and the gateway's).
const (
	rzpKeyID        = "rzp_test_gateway"
	rzpKeySecret    = "rzp-gateway-key-secret"
	rzpWebhookNow   = "rzp-webhook-secret-current"
	rzpWebhookOlder = "rzp-webhook-secret-previous"
	// rzpAccountID is the account the sandbox's webhooks name.
	rzpAccountID = "acc_SandboxAcct001"
)

// razorpayGateway starts Caddy in-process with the gateway (two webhook
// secrets: current, then previous), the embedded Razorpay sandbox sending
// its account webhooks to the gateway, and a stand-in shop. signWith
// chooses which secret the sandbox signs webhooks with.
func razorpayGateway(t *testing.T, signWith string) *shop {
	sh := newShop(t)
	t.Setenv("RZP_TEST_KEY_SECRET", rzpKeySecret)
	t.Setenv("RZP_TEST_WH_NOW", rzpWebhookNow)
	t.Setenv("RZP_TEST_WH_OLD", rzpWebhookOlder)
	t.Setenv("RZP_TEST_WH_SIGN", signWith)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		slow_delay 4s
		razorpay {
			key_id %[1]s
			key_secret {env.RZP_TEST_KEY_SECRET}
			webhook_secret {env.RZP_TEST_WH_NOW}
			webhook_signing_secret {env.RZP_TEST_WH_SIGN}
			webhook_url http://localhost:9080/notifications/razorpay
		}
	}
	payments {
		provider razorpay {
			key_id %[1]s
			key_secret {env.RZP_TEST_KEY_SECRET}
			webhook_secret {env.RZP_TEST_WH_NOW} {env.RZP_TEST_WH_OLD}
			account_id %[4]s
			endpoint http://localhost:9080/sandbox/razorpay
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://localhost:9080
		timeout 2s
		storage_path %[2]s
	}
	reverse_proxy %[3]s
}
`, rzpKeyID, filepath.Join(t.TempDir(), "state.db"), sh.srv.URL, rzpAccountID))
	return sh
}

func razorpayPayment(ref string, amount int64) map[string]any {
	return map[string]any{
		"provider": "razorpay", "reference": ref, "amount": amount, "currency": "EUR", "description": "Order " + ref,
		"customer": map[string]any{"id": "cust-42", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
			"phone": "+46701234567", "country": "SE", "ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (shop)"},
		"return_url": "https://shop.example/return", "success_url": "https://shop.example/ok", "failure_url": "https://shop.example/failed",
		"metadata": map[string]any{"cart": "c-9"},
	}
}

// createRazorpay creates a payment and returns its id, order id and the
// merchant's next_action URL (the gateway's one-time launch URL).
func createRazorpay(t *testing.T, ref string, amount int64) (id, order, launch string) {
	t.Helper()
	code, pay := api(t, "POST", "/payments", testToken, razorpayPayment(ref, amount))
	if code != 201 || pay["status"] != "requires_action" || pay["test"] != true {
		t.Fatalf("create %s: %d %v", ref, code, pay)
	}
	na, _ := pay["next_action"].(map[string]any)
	if na["type"] != "redirect" || na["method"] != "GET" || !strings.HasPrefix(fmt.Sprint(na["url"]), gwBase+"/returns/razorpay/launch/") {
		t.Fatalf("next_action: %v", na)
	}
	order = pay["provider_reference"].(string)
	if !strings.HasPrefix(order, "order_") {
		t.Fatalf("provider_reference %q is not an order id", order)
	}
	// The create made the order and no payment attempt on it: the
	// launch makes the single one (issue 10, item 8).
	if n := rzpAttempts(t, order); n != 0 {
		t.Fatalf("the create made %d payment attempts on %s, want none", n, order)
	}
	return pay["id"].(string), order, fmt.Sprint(na["url"])
}

// rzpAttempts asks Razorpay (the sandbox, with the account's API key) how
// many payment attempts an order has.
func rzpAttempts(t *testing.T, order string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", gwBase+"/sandbox/razorpay/v1/orders/"+order, nil)
	req.SetBasicAuth(rzpKeyID, rzpKeySecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var o struct {
		Attempts *int `json:"attempts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil || resp.StatusCode != 200 || o.Attempts == nil {
		t.Fatalf("order %s at the sandbox: HTTP %d, %v", order, resp.StatusCode, err)
	}
	return *o.Attempts
}

// rzpBrowser is a browser that shows us each redirect instead of following it.
var rzpBrowser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var (
	rzpRefreshRe = regexp.MustCompile(`(?i)<meta http-equiv="refresh" content="0;url=([^"]+)"`)
	rzpTokenRe   = regexp.MustCompile(`name="token" value="([^"]+)"`)
	rzpFormRe    = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	rzpInputRe   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// browse GETs url as a browser and returns the page.
func browse(t *testing.T, u string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (customer browser)")
	resp, err := rzpBrowser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// payInBrowser plays the customer: open the launch URL, follow the
// "Processing" page to the sandbox checkout, press the button, and post
// the callback form back to the gateway. It returns the gateway's answer
// to the callback (status and Location).
func payInBrowser(t *testing.T, launch, action string) (int, string) {
	t.Helper()
	code, page := browse(t, launch)
	m := rzpRefreshRe.FindSubmatch(page)
	if code != 200 || m == nil {
		t.Fatalf("launch page: %d\n%s", code, page)
	}
	checkoutURL := html.UnescapeString(string(m[1]))
	code, page = browse(t, checkoutURL)
	tok := rzpTokenRe.FindSubmatch(page)
	if code != 200 || tok == nil {
		t.Fatalf("checkout page: %d\n%s", code, page)
	}
	resp, err := http.PostForm(checkoutURL, url.Values{"token": {html.UnescapeString(string(tok[1]))}, "action": {action}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	form := rzpFormRe.FindSubmatch(page)
	if resp.StatusCode != 200 || form == nil {
		t.Fatalf("checkout %s: %d\n%s", action, resp.StatusCode, page)
	}
	fields := url.Values{}
	for _, in := range rzpInputRe.FindAllSubmatch(page, -1) {
		fields.Add(html.UnescapeString(string(in[1])), html.UnescapeString(string(in[2])))
	}
	target := html.UnescapeString(string(form[1]))
	if !strings.HasPrefix(target, gwBase+"/returns/razorpay?order_id=order_") {
		t.Fatalf("callback_url %q is not the gateway's return URL", target)
	}
	resp, err = rzpBrowser.PostForm(target, fields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// postWebhook sends a webhook to the gateway as Razorpay would.
func postWebhook(t *testing.T, body []byte, secret, eventID string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", gwBase+"/notifications/razorpay", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Razorpay-Event-Id", eventID)
	if secret != "" {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req.Header.Set("X-Razorpay-Signature", hex.EncodeToString(m.Sum(nil)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hasType(evs []map[string]any, ty string) bool {
	for _, e := range evs {
		if e["type"] == ty {
			return true
		}
	}
	return false
}

func TestRazorpayEndToEnd(t *testing.T) {
	sh := razorpayGateway(t, rzpWebhookNow)

	t.Run("approve: launch, checkout, webhooks verified and forwarded, return to success_url", func(t *testing.T) {
		id, _, launch := createRazorpay(t, "ORD-R1", 1999)
		code, loc := payInBrowser(t, launch, "approve")
		if code != http.StatusSeeOther || loc != "https://shop.example/ok?payment_id="+url.QueryEscape(id) {
			t.Fatalf("return: %d %q", code, loc)
		}
		waitFor(t, "payment.succeeded", func() bool { return hasType(eventsOf(t, sh, id), "payment.succeeded") })
		for _, e := range eventsOf(t, sh, id) {
			data := e["data"].(map[string]any)
			if data["amount"] != float64(1999) || data["currency"] != "EUR" || data["reference"] != "ORD-R1" {
				t.Fatalf("event data: %v", data)
			}
			pe := e["provider_event"].(map[string]any)
			if pe["entity"] != "event" || strings.Contains(fmt.Sprint(pe), rzpWebhookNow) {
				t.Fatalf("provider_event: %v", pe)
			}
		}
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "succeeded" || got["next_action"] != nil {
			t.Fatalf("after approve: %d %v", code, got)
		}
		// The launch URL works once, and the order holds one attempt.
		if code, _ := browse(t, launch); code != 404 {
			t.Fatalf("launch URL reused: %d", code)
		}
		if n := rzpAttempts(t, got["provider_reference"].(string)); n != 1 {
			t.Fatalf("the order holds %d payment attempts, want 1", n)
		}
		code, found := api(t, "GET", "/payments?provider=razorpay&reference=ORD-R1", testToken, nil)
		if code != 200 || found["id"] != id {
			t.Fatalf("find by reference: %d %v", code, found)
		}
	})

	t.Run("shop down: payment.captured and order.paid announce payment.succeeded once", func(t *testing.T) {
		sh.status.Store(503)
		id, _, launch := createRazorpay(t, "ORD-R1-DOWN", 1999)
		if code, _ := payInBrowser(t, launch, "approve"); code != http.StatusSeeOther {
			t.Fatalf("return: %d", code)
		}
		succeeded := func(status int) map[string]bool {
			ids := map[string]bool{}
			for _, ev := range sh.Events() {
				if ev.Status == status && bytes.Contains(ev.Body, []byte(`"id":"`+id+`"`)) &&
					bytes.Contains(ev.Body, []byte(`"type":"payment.succeeded"`)) {
					ids[ev.Header.Get("webhook-id")] = true
				}
			}
			return ids
		}
		waitFor(t, "the refused first attempt", func() bool { return len(succeeded(503)) > 0 })
		time.Sleep(time.Second) // both webhooks have arrived and been acknowledged
		sh.status.Store(200)
		waitFor(t, "the redelivered payment.succeeded", func() bool { return len(succeeded(200)) > 0 })
		time.Sleep(3 * time.Second) // a second event for the same status would be redelivered by now
		if got := succeeded(200); len(got) != 1 {
			t.Fatalf("payment.succeeded accepted under %d webhook-ids, want 1: %v", len(got), got)
		}
	})

	t.Run("decline: failure return goes to failure_url", func(t *testing.T) {
		id, _, launch := createRazorpay(t, "ORD-R2", 2500)
		code, loc := payInBrowser(t, launch, "decline")
		if code != http.StatusSeeOther || loc != "https://shop.example/failed?payment_id="+url.QueryEscape(id) {
			t.Fatalf("return: %d %q", code, loc)
		}
		waitFor(t, "payment.failed", func() bool { return hasType(eventsOf(t, sh, id), "payment.failed") })
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "failed" {
			t.Fatalf("after decline: %d %v", code, got)
		}
	})

	t.Run("a forged return is refused", func(t *testing.T) {
		_, order, _ := createRazorpay(t, "ORD-R3", 1999)
		resp, err := rzpBrowser.PostForm(gwBase+"/returns/razorpay?order_id="+order, url.Values{
			"razorpay_payment_id": {"pay_Forged0000001"}, "razorpay_order_id": {order},
			"razorpay_signature": {strings.Repeat("ab", 32)},
		})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("forged return: %d", resp.StatusCode)
		}
	})

	t.Run("refunds: partial, the rest, over-refund refused", func(t *testing.T) {
		id, _, launch := createRazorpay(t, "ORD-R4", 1999)
		payInBrowser(t, launch, "approve")
		waitFor(t, "succeeded", func() bool { return hasType(eventsOf(t, sh, id), "payment.succeeded") })
		code, r1 := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 500, "reference": "RF-1", "reason": "damaged"})
		if code != 201 || r1["amount"] != float64(500) || r1["status"] == "failed" || r1["payment_id"] != id {
			t.Fatalf("partial refund: %d %v", code, r1)
		}
		code, r2 := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{})
		if code != 201 || r2["amount"] != float64(1499) {
			t.Fatalf("refund of the rest: %d %v", code, r2)
		}
		code, over := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 1})
		if code != 400 || errField(over, "request_sent") != "no" {
			t.Fatalf("over-refund: %d %v", code, over)
		}
		waitFor(t, "two refund.succeeded events", func() bool {
			n := 0
			for _, ty := range types(eventsOf(t, sh, id)) {
				if ty == "refund.succeeded" {
					n++
				}
			}
			return n == 2
		})
		code, p := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || p["amount_refunded"] != float64(1999) || p["status"] != "succeeded" {
			t.Fatalf("after refunds: %d %v", code, p)
		}
		code, got := api(t, "GET", "/refunds/"+r1["id"].(string), testToken, nil)
		if code != 200 || got["amount"] != float64(500) || got["status"] != "succeeded" || got["payment_id"] != id {
			t.Fatalf("get refund: %d %v", code, got)
		}
	})

	t.Run("tampered or unsigned webhook: 401, never forwarded", func(t *testing.T) {
		id, order, _ := createRazorpay(t, "ORD-R5", 3000)
		before := len(sh.Events())
		body := []byte(`{"entity":"event","account_id":"acc_SandboxAcct001","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_Forged0000002","entity":"payment","amount":3000,"currency":"EUR","status":"captured","order_id":"` + order + `","captured":true,"created_at":1}}},"created_at":1}`)
		m := hmac.New(sha256.New, []byte(rzpWebhookNow))
		m.Write(body)
		good := hex.EncodeToString(m.Sum(nil))
		tampered := bytes.Replace(body, []byte(`"amount":3000`), []byte(`"amount":3`), 1)
		for name, req := range map[string]func() *http.Request{
			"tampered body": func() *http.Request {
				r, _ := http.NewRequest("POST", gwBase+"/notifications/razorpay", bytes.NewReader(tampered))
				r.Header.Set("X-Razorpay-Signature", good)
				return r
			},
			"unsigned": func() *http.Request {
				r, _ := http.NewRequest("POST", gwBase+"/notifications/razorpay", bytes.NewReader(body))
				return r
			},
			"signed with the key secret": func() *http.Request {
				k := hmac.New(sha256.New, []byte(rzpKeySecret))
				k.Write(body)
				r, _ := http.NewRequest("POST", gwBase+"/notifications/razorpay", bytes.NewReader(body))
				r.Header.Set("X-Razorpay-Signature", hex.EncodeToString(k.Sum(nil)))
				return r
			},
		} {
			resp, err := http.DefaultClient.Do(req())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("%s: %d", name, resp.StatusCode)
			}
		}
		if len(sh.Events()) != before || len(eventsOf(t, sh, id)) != 0 {
			t.Fatal("a refused webhook reached the shop")
		}
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "requires_action" {
			t.Fatalf("a refused webhook moved the payment: %v", got)
		}
	})

	t.Run("late authorisation (1515): failed, then succeeded only via a fetch", func(t *testing.T) {
		id, _, launch := createRazorpay(t, "ORD-R6", 1515)
		code, loc := payInBrowser(t, launch, "approve")
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "https://shop.example/failed?") {
			t.Fatalf("late-auth return: %d %q (the customer comes back with an error)", code, loc)
		}
		waitFor(t, "failed then succeeded", func() bool {
			ts := types(eventsOf(t, sh, id))
			return len(ts) >= 2 && ts[0] == "payment.failed" && hasType(eventsOf(t, sh, id), "payment.succeeded")
		})
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "succeeded" {
			t.Fatalf("after late authorisation: %d %v", code, got)
		}
	})

	t.Run("a signed claim the provider does not confirm never lifts a failed payment", func(t *testing.T) {
		id, order, launch := createRazorpay(t, "ORD-R7", 2000)
		payInBrowser(t, launch, "decline")
		waitFor(t, "payment.failed", func() bool { return hasType(eventsOf(t, sh, id), "payment.failed") })
		before := len(eventsOf(t, sh, id))
		// Correctly signed (the test holds the webhook secret), but Razorpay
		// (the sandbox) knows of no captured attempt: the fetch refutes it.
		body := []byte(`{"entity":"event","account_id":"acc_SandboxAcct001","event":"payment.authorized","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_Claimed000001","entity":"payment","amount":2000,"currency":"EUR","status":"authorized","order_id":"` + order + `","created_at":1}}},"created_at":1}`)
		if code := postWebhook(t, body, rzpWebhookNow, "evt_claim_1"); code != 200 {
			t.Fatalf("verified webhook not acknowledged: %d", code)
		}
		if n := len(eventsOf(t, sh, id)); n != before {
			t.Fatalf("an unconfirmed upward move was forwarded (%d events)", n)
		}
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "failed" {
			t.Fatalf("status moved without confirmation: %v", got)
		}
	})

	t.Run("decline, timeout and garbage on create say whether the request was sent", func(t *testing.T) {
		// The create is the order create: 1717 has it refused.
		code, out := api(t, "POST", "/payments", testToken, razorpayPayment("ORD-RDECL", 1717))
		if code != 402 || errField(out, "type") != "provider_declined" || errField(out, "request_sent") != "yes" {
			t.Fatalf("decline: %d %v", code, out)
		}
		// An order create has no idempotency key: an unknown outcome is
		// not retryable, and the merchant is sent to look it up.
		code, out = api(t, "POST", "/payments", testToken, razorpayPayment("ORD-RSLOW", 1212))
		if code != 504 || errField(out, "request_sent") != "unknown" || errField(out, "retryable") != false ||
			!strings.Contains(fmt.Sprint(errField(out, "message")), "by reference") {
			t.Fatalf("timeout: %d %v", code, out)
		}
		code, found := api(t, "GET", "/payments?provider=razorpay&reference=ORD-RSLOW", testToken, nil)
		if code != 200 || found["reference"] != "ORD-RSLOW" {
			t.Fatalf("the order of a timed-out create is not found by reference: %d %v", code, found)
		}
		code, out = api(t, "POST", "/payments", testToken, razorpayPayment("ORD-RGARB", 1111))
		if code != 502 || errField(out, "request_sent") != "unknown" || errField(out, "retryable") != false {
			t.Fatalf("garbage: %d %v", code, out)
		}
	})

	t.Run("a bank decline (1313) happens at the launch, the order's one attempt", func(t *testing.T) {
		id, order, launch := createRazorpay(t, "ORD-RDECL2", 1313)
		if code, _ := browse(t, launch); code != 402 {
			t.Fatalf("launch of a declined attempt: %d", code)
		}
		waitFor(t, "payment.failed", func() bool { return hasType(eventsOf(t, sh, id), "payment.failed") })
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "failed" || rzpAttempts(t, order) != 1 {
			t.Fatalf("after the declined launch: %d %v", code, got)
		}
	})

	t.Run("INR is accepted", func(t *testing.T) {
		p := razorpayPayment("ORD-RINR", 50000)
		p["currency"] = "INR"
		code, out := api(t, "POST", "/payments", testToken, p)
		if code != 201 || out["currency"] != "INR" || out["status"] != "requires_action" {
			t.Fatalf("INR create: %d %v", code, out)
		}
	})

	t.Run("a webhook of another account sharing the secret is refused", func(t *testing.T) {
		id, order, _ := createRazorpay(t, "ORD-RACC", 3000)
		body := []byte(`{"entity":"event","account_id":"acc_OtherAccount01","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_OtherAcct00001","entity":"payment","amount":3000,"currency":"EUR","status":"captured","order_id":"` + order + `","captured":true,"created_at":1}}},"created_at":` + fmt.Sprint(time.Now().Unix()) + `}`)
		if code := postWebhook(t, body, rzpWebhookNow, "evt_other_acc_1"); code != 401 {
			t.Fatalf("webhook of another account: %d", code)
		}
		if len(eventsOf(t, sh, id)) != 0 {
			t.Fatal("a webhook of another account reached the shop")
		}
	})

	t.Run("a replayed genuine webhook: a new event id is the same event, an old one needs a fetch", func(t *testing.T) {
		captured := func(order string, at time.Time) []byte {
			return []byte(`{"entity":"event","account_id":"` + rzpAccountID + `","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_Replayed000001","entity":"payment","amount":2100,"currency":"EUR","status":"captured","order_id":"` + order + `","captured":true,"created_at":` + fmt.Sprint(at.Unix()) + `}}},"created_at":` + fmt.Sprint(at.Unix()) + `}`)
		}
		// Older than Razorpay's 24-hour retry window: acknowledged, but
		// Razorpay (the sandbox) knows of no capture, so nothing is
		// forwarded and the payment does not move.
		oldID, oldOrder, _ := createRazorpay(t, "ORD-ROLD", 2100)
		if code := postWebhook(t, captured(oldOrder, time.Now().Add(-25*time.Hour)), rzpWebhookNow, "evt_old_1"); code != 200 {
			t.Fatalf("stale webhook: %d", code)
		}
		// Within the window the signed body is a fact on its own; re-sent
		// with a new X-Razorpay-Event-Id it is the same event.
		newID, newOrder, _ := createRazorpay(t, "ORD-RNEW", 2100)
		body := captured(newOrder, time.Now())
		for _, evID := range []string{"evt_new_1", "evt_new_2_replayed"} {
			if code := postWebhook(t, body, rzpWebhookNow, evID); code != 200 {
				t.Fatalf("fresh webhook %s: %d", evID, code)
			}
		}
		waitFor(t, "the fresh webhook's payment.succeeded", func() bool { return hasType(eventsOf(t, sh, newID), "payment.succeeded") })
		time.Sleep(500 * time.Millisecond)
		if n := len(eventsOf(t, sh, newID)); n != 1 {
			t.Fatalf("%d events for one webhook sent under two event ids", n)
		}
		if n := len(eventsOf(t, sh, oldID)); n != 0 {
			t.Fatalf("a stale webhook was forwarded on its own (%d events)", n)
		}
		if code, got := api(t, "GET", "/payments/"+oldID, testToken, nil); code != 200 || got["status"] != "requires_action" {
			t.Fatalf("a stale webhook moved the payment: %d %v", code, got)
		}
	})

	t.Run("Razorpay limits are checked before sending", func(t *testing.T) {
		p := razorpayPayment("ORD-"+strings.Repeat("X", 37), 100)
		code, out := api(t, "POST", "/payments", testToken, p)
		if code != 400 || errField(out, "field") != "reference" || errField(out, "request_sent") != "no" {
			t.Fatalf("41-character reference: %d %v", code, out)
		}
		p = razorpayPayment("ORD-PHONE", 100)
		p["customer"].(map[string]any)["phone"] = "+461234567890123"
		code, out = api(t, "POST", "/payments", testToken, p)
		if code != 400 || errField(out, "field") != "customer.phone" {
			t.Fatalf("16-character contact: %d %v", code, out)
		}
		p = razorpayPayment("ORD-NOPHONE", 100)
		delete(p["customer"].(map[string]any), "phone")
		code, out = api(t, "POST", "/payments", testToken, p)
		if code != 400 || errField(out, "field") != "customer.phone" {
			t.Fatalf("missing contact: %d %v", code, out)
		}
	})
}

// After a webhook secret rotation Razorpay still signs retries of older
// events with the previous secret: with both configured, they verify.
func TestRazorpayPreviousWebhookSecret(t *testing.T) {
	sh := razorpayGateway(t, rzpWebhookOlder)
	id, _, launch := createRazorpay(t, "ORD-ROT1", 1999)
	code, loc := payInBrowser(t, launch, "approve")
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "https://shop.example/ok?") {
		t.Fatalf("return: %d %q", code, loc)
	}
	waitFor(t, "events signed with the previous secret", func() bool { return hasType(eventsOf(t, sh, id), "payment.succeeded") })
	// The same holds for a webhook the test signs itself; a secret that is
	// not configured is refused.
	body := []byte(`{"entity":"event","account_id":"acc_SandboxAcct001","event":"refund.speed_changed","contains":["refund"],"payload":{},"created_at":1}`)
	if code := postWebhook(t, body, rzpWebhookOlder, "evt_rot_1"); code != 200 {
		t.Fatalf("webhook signed with the previous secret: %d", code)
	}
	if code := postWebhook(t, body, "never-configured-secret", "evt_rot_2"); code != 401 {
		t.Fatalf("webhook signed with an unknown secret: %d", code)
	}
}
