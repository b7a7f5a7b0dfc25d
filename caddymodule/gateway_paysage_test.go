package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-payments/caddy-payments/sandbox"
)

const (
	paysageShopID = "361"
	paysageSecret = "paysage-e2e-secret-QZ!"
)

// paysageGateway starts Caddy in-process with the gateway, the embedded
// sandbox (PaySage) and a stand-in shop. The gateway's public_key is the
// sandbox's TEST-ONLY key, exactly as a shop pastes its back-office key.
func paysageGateway(t *testing.T) *shop {
	integrationStarted.Add(1)
	sh := newShop(t)
	t.Setenv("PAYSAGE_TEST_SECRET", paysageSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`
{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
}

http://localhost:9080 {
	payments_sandbox {
		slow_delay 4s
		paysage {
			shop_id %s
			secret_key {env.PAYSAGE_TEST_SECRET}
		}
	}
	payments {
		provider paysage {
			shop_id %s
			secret_key {env.PAYSAGE_TEST_SECRET}
			public_key %s
			test
			endpoint http://localhost:9080/sandbox/paysage
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://localhost:9080
		timeout 2s
		storage_path %s
	}
	reverse_proxy %s
}
`, paysageShopID, paysageShopID, sandbox.PaysagePublicKey(), filepath.Join(t.TempDir(), "state.db"), sh.srv.URL), "caddyfile")
	if t.Failed() || t.Skipped() {
		t.FailNow()
	}
	integrationRan.Add(1)
	return sh
}

func paysagePayment(ref string, amount int64) map[string]any {
	return map[string]any{
		"provider": "paysage", "reference": ref, "amount": amount, "currency": "EUR", "description": "Order " + ref,
		"customer": map[string]any{"id": "cust-42", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
			"country": "SE", "ip": "203.0.113.7"},
		"language": "en", "return_url": "https://shop.example/return",
		"success_url": "https://shop.example/ok", "failure_url": "https://shop.example/failed",
	}
}

func createPaysage(t *testing.T, ref string, amount int64) (id, uid, checkout string) {
	t.Helper()
	code, pay := api(t, "POST", "/payments", testToken, paysagePayment(ref, amount))
	if code != 201 || pay["status"] != "requires_action" || pay["test"] != true || pay["amount"] != float64(amount) {
		t.Fatalf("create %s: %d %v", ref, code, pay)
	}
	na := pay["next_action"].(map[string]any)
	if na["type"] != "redirect" || na["method"] != "GET" || !strings.HasPrefix(fmt.Sprint(na["url"]), gwBase+"/sandbox/paysage/checkout/") {
		t.Fatalf("next_action: %v", na)
	}
	return pay["id"].(string), pay["provider_reference"].(string), na["url"].(string)
}

// noRedirect is a browser that shows each redirect instead of following it.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// paysageCheckout opens the checkout page as the customer's browser and
// clicks a button; it returns where PaySage sends the browser.
func paysageCheckout(t *testing.T, checkout, action string) string {
	t.Helper()
	resp, err := noRedirect.Get(checkout)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="token" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("checkout page: %d %s", resp.StatusCode, page)
	}
	resp, err = noRedirect.PostForm(checkout, url.Values{"token": {string(m[1])}, "action": {action}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("checkout %s: %d", action, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// paysageAction decides a payment through the sandbox-only endpoint.
func paysageAction(t *testing.T, uid, action string) {
	t.Helper()
	resp, err := http.Post(gwBase+"/sandbox/paysage/_sandbox/payments/"+uid+"/"+action, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sandbox %s: %d", action, resp.StatusCode)
	}
}

// paysageWebhooks returns the sandbox's record of the webhooks it sent
// for a transaction.
func paysageWebhooks(t *testing.T, uid string) []map[string]any {
	t.Helper()
	resp, err := http.Get(gwBase + "/sandbox/paysage/_sandbox/payments")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Payments []map[string]any `json:"payments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	for _, p := range out.Payments {
		if p["uid"] == uid {
			var ws []map[string]any
			for _, w := range p["webhooks"].([]any) {
				ws = append(ws, w.(map[string]any))
			}
			return ws
		}
	}
	t.Fatalf("sandbox has no transaction %s", uid)
	return nil
}

// postPaysageNotification posts a webhook to the gateway as PaySage would.
func postPaysageNotification(t *testing.T, body, signature, basic string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", gwBase+"/notifications/paysage", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Content-Signature", signature)
	}
	if basic != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestPaySageEndToEnd(t *testing.T) {
	sh := paysageGateway(t)

	t.Run("approve via the checkout page: webhook forwarded and verified, customer back at success_url", func(t *testing.T) {
		id, uid, checkout := createPaysage(t, "ORD-S1", 1999)
		back := paysageCheckout(t, checkout, "approve")
		if !strings.HasPrefix(back, gwBase+"/returns/paysage?") || !strings.Contains(back, "reference=ORD-S1") {
			t.Fatalf("PaySage returned the browser to %s", back)
		}
		waitFor(t, "payment.succeeded", func() bool { return len(eventsOf(t, sh, id)) == 1 })
		ev := eventsOf(t, sh, id)[0]
		if ev["type"] != "payment.succeeded" || ev["provider"] != "paysage" {
			t.Fatalf("event %v", ev)
		}
		data := ev["data"].(map[string]any)
		if data["amount"] != float64(1999) || data["currency"] != "EUR" || data["status"] != "succeeded" ||
			data["reference"] != "ORD-S1" || data["provider_reference"] != uid {
			t.Fatalf("event data: %v", data)
		}
		pe, _ := json.Marshal(ev["provider_event"])
		if !strings.Contains(string(pe), `"status":"successful"`) || strings.Contains(string(pe), paysageSecret) {
			t.Fatalf("provider_event: %s", pe)
		}
		for _, e := range sh.Events() {
			if e.Header.Get("Content-Signature") != "" || e.Header.Get("Authorization") != "" {
				t.Fatal("PaySage's credentials or signature reached the shop")
			}
		}
		waitFor(t, "PaySage acknowledged", func() bool {
			ws := paysageWebhooks(t, uid)
			return len(ws) == 1 && ws[0]["acknowledged"] == true && ws[0]["content_signature"] != ""
		})
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "succeeded" {
			t.Fatalf("after approve: %d %v", code, got)
		}
		// The return is matched by a fetch, then sent to the merchant's URL.
		resp, err := noRedirect.Get(back)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "https://shop.example/ok?payment_id="+id {
			t.Fatalf("return: %d %s", resp.StatusCode, loc)
		}
		code, found := api(t, "GET", "/payments?provider=paysage&reference=ORD-S1", testToken, nil)
		if code != 200 || found["id"] != id {
			t.Fatalf("find by reference: %d %v", code, found)
		}
	})

	t.Run("decline", func(t *testing.T) {
		id, _, checkout := createPaysage(t, "ORD-S2", 2500)
		back := paysageCheckout(t, checkout, "decline")
		waitFor(t, "payment.failed", func() bool { return len(eventsOf(t, sh, id)) == 1 })
		if got := types(eventsOf(t, sh, id)); got[0] != "payment.failed" {
			t.Fatalf("event types %v", got)
		}
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "failed" {
			t.Fatalf("after decline: %d %v", code, got)
		}
		resp, err := noRedirect.Get(back)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != "https://shop.example/failed?payment_id="+id {
			t.Fatalf("return after decline: %s", loc)
		}
	})

	t.Run("duplicate webhooks reach the shop once", func(t *testing.T) {
		id, uid, _ := createPaysage(t, "ORD-S3", 1414) // magic: every webhook twice
		paysageAction(t, uid, "approve")
		waitFor(t, "two acknowledged deliveries", func() bool {
			ws := paysageWebhooks(t, uid)
			return len(ws) == 2 && ws[0]["acknowledged"] == true && ws[1]["acknowledged"] == true
		})
		if got := types(eventsOf(t, sh, id)); len(got) != 1 || got[0] != "payment.succeeded" {
			t.Fatalf("shop got %v, want payment.succeeded once", got)
		}
	})

	t.Run("refunds: partials up to the amount, one over it refused", func(t *testing.T) {
		id, uid, _ := createPaysage(t, "ORD-S4", 1000)
		paysageAction(t, uid, "approve")
		waitFor(t, "succeeded", func() bool { return len(eventsOf(t, sh, id)) == 1 })
		var first map[string]any
		for i, amount := range []int{400, 400} {
			code, r := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": amount, "reference": fmt.Sprintf("RF-%d", i), "reason": "returned goods"})
			if code != 201 || r["amount"] != float64(amount) || r["status"] != "succeeded" || r["payment_id"] != id {
				t.Fatalf("refund %d: %d %v", i, code, r)
			}
			if first == nil {
				first = r
			}
		}
		code, over := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 300})
		if code != 400 || errField(over, "field") != "amount" || errField(over, "request_sent") != "no" {
			t.Fatalf("over-refund: %d %v", code, over)
		}
		code, rest := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{})
		if code != 201 || rest["amount"] != float64(200) {
			t.Fatalf("refund of the rest: %d %v", code, rest)
		}
		code, none := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 1})
		if code != 400 || errField(none, "field") != "amount" {
			t.Fatalf("refund after everything was refunded: %d %v", code, none)
		}
		code, p := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || p["amount_refunded"] != float64(1000) || p["status"] != "succeeded" {
			t.Fatalf("after refunds: %d %v", code, p)
		}
		code, got := api(t, "GET", "/refunds/"+first["id"].(string), testToken, nil)
		if code != 200 || got["amount"] != float64(400) || got["status"] != "succeeded" {
			t.Fatalf("get refund: %d %v", code, got)
		}
	})

	t.Run("bad Content-Signature or wrong Basic: 401, never forwarded", func(t *testing.T) {
		id, uid, _ := createPaysage(t, "ORD-S5", 3000)
		// A genuine signature, of another body (another payment's webhook).
		_, otherUID, _ := createPaysage(t, "ORD-S6", 600)
		paysageAction(t, otherUID, "approve")
		waitFor(t, "the other webhook", func() bool { return len(paysageWebhooks(t, otherUID)) == 1 })
		realSig := fmt.Sprint(paysageWebhooks(t, otherUID)[0]["content_signature"])
		forged := `{"transaction":{"uid":"` + uid + `","type":"payment","status":"successful","amount":3000,"currency":"EUR","tracking_id":"ORD-S5","test":true}}`
		before := len(sh.Events())
		for name, c := range map[string]struct{ sig, basic string }{
			"bad signature, right Basic":   {"AAAA" + realSig[4:], paysageShopID + ":" + paysageSecret},
			"garbage signature":            {"not base64!", paysageShopID + ":" + paysageSecret},
			"another body's signature":     {realSig, ""},
			"no signature, wrong secret":   {"", paysageShopID + ":wrong-secret"},
			"no signature, wrong shop":     {"", "362:" + paysageSecret},
			"no signature, no credentials": {"", ""},
		} {
			if code := postPaysageNotification(t, forged, c.sig, c.basic); code != 401 {
				t.Errorf("%s: HTTP %d, want 401", name, code)
			}
		}
		time.Sleep(100 * time.Millisecond)
		if len(sh.Events()) != before || len(eventsOf(t, sh, id)) != 0 {
			t.Fatal("a forged webhook reached the shop")
		}
		// Right Basic, no signature: authenticated, but the claim is
		// checked with PaySage, which says the payment is still pending.
		if code := postPaysageNotification(t, forged, "", paysageShopID+":"+paysageSecret); code != 200 {
			t.Fatalf("Basic-authenticated webhook: HTTP %d", code)
		}
		time.Sleep(100 * time.Millisecond)
		if len(eventsOf(t, sh, id)) != 0 {
			t.Fatal("an unconfirmed Basic claim was forwarded")
		}
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "requires_action" {
			t.Fatalf("a forged webhook moved the payment: %v", got)
		}
	})

	t.Run("timeout, garbage and decline say whether the request was sent", func(t *testing.T) {
		code, out := api(t, "POST", "/payments", testToken, paysagePayment("ORD-SSLOW", 1212))
		if code != 504 || errField(out, "request_sent") != "unknown" {
			t.Fatalf("timeout: %d %v", code, out)
		}
		code, found := api(t, "GET", "/payments?provider=paysage&reference=ORD-SSLOW", testToken, nil)
		if code != 200 || found["status"] != "requires_action" {
			t.Fatalf("the slow payment by reference: %d %v", code, found)
		}
		code, out = api(t, "POST", "/payments", testToken, paysagePayment("ORD-SGARBAGE", 1111))
		if code != 502 || errField(out, "request_sent") != "unknown" {
			t.Fatalf("garbage: %d %v", code, out)
		}
		code, out = api(t, "POST", "/payments", testToken, paysagePayment("ORD-SDECLINED", 1313))
		if code != 402 || errField(out, "type") != "provider_declined" || errField(out, "provider_code") != "failed" || errField(out, "request_sent") != "yes" {
			t.Fatalf("decline: %d %v", code, out)
		}
	})

	t.Run("PaySage rules are checked before sending", func(t *testing.T) {
		for _, c := range []struct {
			name, field string
			mutate      func(map[string]any)
		}{
			{"USD", "currency", func(p map[string]any) { p["currency"] = "USD" }},
			{"no customer.id", "customer.id", func(p map[string]any) { delete(p["customer"].(map[string]any), "id") }},
			{"no last name", "customer.last_name", func(p map[string]any) { delete(p["customer"].(map[string]any), "last_name") }},
			{"reference with /", "reference", func(p map[string]any) { p["reference"] = "ORD/1" }},
		} {
			p := paysagePayment("ORD-RULES", 100)
			c.mutate(p)
			code, out := api(t, "POST", "/payments", testToken, p)
			if code != 400 || errField(out, "field") != c.field || errField(out, "request_sent") != "no" {
				t.Errorf("%s: %d %v", c.name, code, out)
			}
		}
	})
}
