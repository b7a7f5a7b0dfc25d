package caddymodule

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
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

// paysageProxy stands between the gateway and the sandbox's PaySage API:
// it counts the API calls the gateway makes, and can answer the next
// create or refund with an error status after the sandbox has acted on it
// (PaySage failing after it created the object).
type paysageProxy struct {
	srv   *httptest.Server
	calls atomic.Int64
	fail  atomic.Int32 // status for the next POST, 0: none
}

func newPaysageProxy(t *testing.T) *paysageProxy {
	px := &paysageProxy{}
	target, _ := url.Parse(gwBase)
	rp := httputil.NewSingleHostReverseProxy(target)
	direct := rp.Director
	rp.Director = func(r *http.Request) {
		direct(r)
		r.Host = "localhost:9080" // the sandbox builds checkout URLs from it
	}
	px.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/beyag/") {
			px.calls.Add(1)
		}
		if st := int(px.fail.Load()); r.Method == http.MethodPost && st != 0 && px.fail.CompareAndSwap(int32(st), 0) {
			rp.ServeHTTP(httptest.NewRecorder(), r)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(st)
			_, _ = io.WriteString(w, "<html>upstream error</html>")
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(px.srv.Close)
	return px
}

// paysageKeyGateway is paysageGateway with the shop's key pair being
// rotated: the sandbox signs with a new key (written to a PEM file), and
// the gateway lists the new public key and the old one (the sandbox's
// embedded key). PaySage API calls go through a paysageProxy.
func paysageKeyGateway(t *testing.T) (*shop, *paysageProxy, *rsa.PrivateKey) {
	sh := newShop(t)
	px := newPaysageProxy(t)
	t.Setenv("PAYSAGE_TEST_SECRET", paysageSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(newKey)
	keyFile := filepath.Join(t.TempDir(), "new_key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&newKey.PublicKey)
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		slow_delay 4s
		paysage {
			shop_id %[1]s
			secret_key {env.PAYSAGE_TEST_SECRET}
			private_key %[2]s
		}
	}
	payments {
		provider paysage {
			shop_id %[1]s
			secret_key {env.PAYSAGE_TEST_SECRET}
			public_key %[3]s %[4]s
			test
			endpoint %[5]s/sandbox/paysage
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://localhost:9080
		timeout 2s
		storage_path %[6]s
	}
	reverse_proxy %[7]s
}
`, paysageShopID, keyFile, base64.StdEncoding.EncodeToString(pub), sandbox.PaysagePublicKey(), px.srv.URL,
		filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))
	return sh, px, newKey
}

// signPaysage is a Content-Signature of body by k.
func signPaysage(t *testing.T, k *rsa.PrivateKey, body string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// browserReturn opens a return URL as the customer's browser (GET, or a
// POST of form when form is not nil) and reports the answer.
func browserReturn(t *testing.T, target string, form url.Values) (int, string, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if form == nil {
		resp, err = noRedirect.Get(target)
	} else {
		resp, err = noRedirect.PostForm(target, form)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func TestPaySageTrust(t *testing.T) {
	sh, px, newKey := paysageKeyGateway(t)

	t.Run("old and new public keys both verify Content-Signature", func(t *testing.T) {
		// The sandbox signs with the new key: the whole flow works.
		id, uid, _ := createPaysage(t, "ORD-K1", 1999)
		paysageAction(t, uid, "approve")
		waitFor(t, "payment.succeeded signed by the new key", func() bool { return hasType(eventsOf(t, sh, id), "payment.succeeded") })
		// A webhook signed by the old key (the sandbox's embedded one)
		// verifies too; one by a key the gateway does not list does not.
		_, uid2, _ := createPaysage(t, "ORD-K2", 2999)
		body := `{"transaction":{"uid":"` + uid2 + `","type":"payment","status":"pending","amount":2999,"currency":"EUR","tracking_id":"ORD-K2","test":true}}`
		pemBytes, err := os.ReadFile("../sandbox/testdata/paysage_sandbox_test_key.pem")
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(pemBytes[bytes.Index(pemBytes, []byte("-----BEGIN")):])
		oldKey, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if code := postPaysageNotification(t, body, signPaysage(t, oldKey.(*rsa.PrivateKey), body), ""); code != 200 {
			t.Fatalf("signed by the old key: HTTP %d", code)
		}
		if code := postPaysageNotification(t, body, signPaysage(t, newKey, body), ""); code != 200 {
			t.Fatalf("signed by the new key: HTTP %d", code)
		}
		stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
		if code := postPaysageNotification(t, body, signPaysage(t, stranger, body), ""); code != 401 {
			t.Fatalf("signed by an unlisted key: HTTP %d", code)
		}
	})

	t.Run("a signed webhook older than PaySage's retry window is only a reason to fetch", func(t *testing.T) {
		id, uid, _ := createPaysage(t, "ORD-OLD", 2100)
		stale := time.Now().Add(-96 * time.Hour).UTC().Format(time.RFC3339)
		body := `{"transaction":{"uid":"` + uid + `","type":"payment","status":"successful","amount":2100,"currency":"EUR","tracking_id":"ORD-OLD",` +
			`"created_at":"` + stale + `","updated_at":"` + stale + `","test":true}}`
		if code := postPaysageNotification(t, body, signPaysage(t, newKey, body), ""); code != 200 {
			t.Fatalf("stale signed webhook: HTTP %d", code)
		}
		time.Sleep(200 * time.Millisecond)
		if got := types(eventsOf(t, sh, id)); len(got) != 0 {
			t.Fatalf("a stale webhook was forwarded on its own: %v", got)
		}
		// PaySage (the sandbox) says pending: nothing moved.
		code, got := api(t, "GET", "/payments/"+id, testToken, nil)
		if code != 200 || got["status"] != "requires_action" {
			t.Fatalf("after the stale webhook: %d %v", code, got)
		}
	})

	t.Run("returns: only the gateway's token and a fetch decide", func(t *testing.T) {
		paid, paidUID, checkout1 := createPaysage(t, "ORD-RT1", 1500)
		back1 := paysageCheckout(t, checkout1, "approve")
		other, otherUID, checkout2 := createPaysage(t, "ORD-RT2", 1600)
		back2 := paysageCheckout(t, checkout2, "decline")
		u1, _ := url.Parse(back1)
		u2, _ := url.Parse(back2)
		if u2.Query().Get("uid") != otherUID {
			t.Fatalf("return URLs %s and %s", back1, back2)
		}

		// Genuine returns still redirect, with one PaySage call each.
		before := px.calls.Load()
		if code, loc, _ := browserReturn(t, back1, nil); code != 303 || loc != "https://shop.example/ok?payment_id="+paid {
			t.Fatalf("genuine approved return: %d %s", code, loc)
		}
		if code, loc, _ := browserReturn(t, back2, nil); code != 303 || loc != "https://shop.example/failed?payment_id="+other {
			t.Fatalf("genuine declined return: %d %s", code, loc)
		}
		if n := px.calls.Load() - before; n != 2 {
			t.Fatalf("two genuine returns made %d PaySage calls, want 2", n)
		}

		// The declined payment's own return, with the paid payment's uid
		// and a successful status put in: it stays the declined payment's.
		q := u2.Query()
		q.Set("uid", paidUID)
		q.Set("status", "successful")
		u2.RawQuery = q.Encode()
		if code, loc, _ := browserReturn(t, u2.String(), nil); code != 303 || loc != "https://shop.example/failed?payment_id="+other {
			t.Errorf("a return with another payment's uid went to %d %s", code, loc)
		}

		// Without a valid gateway token: one answer, whatever the request
		// names, and no PaySage call.
		tok1, tok2 := u1.Query().Get("return_token"), q.Get("return_token")
		base := gwBase + "/returns/paysage?"
		cases := map[string]struct {
			url  string
			form url.Values
		}{
			"a paid payment's uid":               {base + "uid=" + paidUID + "&status=successful", nil},
			"an unknown uid":                     {base + "uid=5658d7ca-6f8c-4050-ac19-05980b8356e5&status=successful", nil},
			"a known reference, no token":        {base + "reference=ORD-RT1", nil},
			"an unknown reference, no token":     {base + "reference=ORD-NONE", nil},
			"another reference's token":          {base + "reference=ORD-RT1&return_token=" + tok2, nil},
			"a token for an unknown reference":   {base + "reference=ORD-NONE&return_token=" + tok1, nil},
			"a forged token":                     {base + "reference=ORD-RT1&return_token=AAAAAAAAAAAAAAAAAAAAAA", nil},
			"a token given twice":                {base + "reference=ORD-RT1&return_token=" + tok1 + "&return_token=" + tok1, nil},
			"another account's URL":              {gwBase + "/returns/nosuch?reference=ORD-RT1&return_token=" + tok1, nil},
			"a POSTed uid of a paid payment":     {base, url.Values{"uid": {paidUID}, "status": {"successful"}}},
			"a POSTed uid and a known reference": {base + "reference=ORD-RT1", url.Values{"uid": {paidUID}}},
		}
		before = px.calls.Load()
		var first string
		for name, c := range cases {
			code, loc, body := browserReturn(t, c.url, c.form)
			got := fmt.Sprintf("%d %s %s", code, loc, body)
			if code != 401 || loc != "" || !strings.Contains(body, `"invalid_return"`) {
				t.Errorf("%s: %s", name, got)
			}
			if first == "" {
				first = got
			} else if got != first {
				t.Errorf("%s: answer differs:\n%s\n%s", name, got, first)
			}
		}
		if n := px.calls.Load() - before; n != 0 {
			t.Fatalf("returns without a valid token made %d PaySage calls", n)
		}
	})

	t.Run("launch URLs: one answer for every dead link", func(t *testing.T) {
		a, _, bodyA := browserReturn(t, gwBase+"/returns/paysage/launch/ln_0123456789abcdef01234567", nil)
		b, _, bodyB := browserReturn(t, gwBase+"/returns/nosuch/launch/ln_0123456789abcdef01234567", nil)
		if a != 404 || a != b || bodyA != bodyB {
			t.Fatalf("%d %s\n%d %s", a, bodyA, b, bodyB)
		}
	})

	t.Run("a 5xx to a create or a refund is an unknown outcome", func(t *testing.T) {
		px.fail.Store(503)
		code, out := api(t, "POST", "/payments", testToken, paysagePayment("ORD-5XX", 1700))
		if code != 502 || errField(out, "request_sent") != "unknown" || errField(out, "retryable") != false ||
			!strings.Contains(fmt.Sprint(errField(out, "message")), "reference") {
			t.Errorf("create answered 503: %d %v", code, out)
		}
		// PaySage did create it: the lookup the error points to finds it.
		code, found := api(t, "GET", "/payments?provider=paysage&reference=ORD-5XX", testToken, nil)
		if code != 200 || found["amount"] != float64(1700) {
			t.Fatalf("lookup by reference: %d %v", code, found)
		}

		id, uid, _ := createPaysage(t, "ORD-5XXR", 1800)
		paysageAction(t, uid, "approve")
		waitFor(t, "succeeded", func() bool { return hasType(eventsOf(t, sh, id), "payment.succeeded") })
		px.fail.Store(500)
		code, out = api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": 100, "reference": "RF-5XX"})
		if code != 502 || errField(out, "request_sent") != "unknown" || errField(out, "retryable") != false ||
			!strings.Contains(fmt.Sprint(errField(out, "message")), "reference") {
			t.Fatalf("refund answered 500: %d %v", code, out)
		}
	})
}
