package caddymodule

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/examples/legacyshop/payablnotify"
	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/payabl"
	"github.com/caddy-payments/caddy-payments/sandbox"
	"github.com/caddy-payments/caddy-payments/store"
)

// Issue 13 item 4: forward_format native. The shop (newShop) records
// every delivery with its headers and checks its Standard Webhooks
// signature over the body it received.

// nativeDeliveries returns the shop's deliveries of one webhook-id.
func nativeDeliveries(sh *shop, wid string) []shopEvent {
	var out []shopEvent
	for _, e := range sh.Events() {
		if e.Header.Get("webhook-id") == wid {
			out = append(out, e)
		}
	}
	return out
}

// deliveryWith waits for a delivery whose body is body (or, with body
// nil, whose Payments-Event-Type and Payments-Payment-Id are typ and pid)
// and returns it.
func deliveryWith(t *testing.T, sh *shop, body []byte, typ, pid string) shopEvent {
	t.Helper()
	var got shopEvent
	waitFor(t, fmt.Sprintf("a delivery of %s %s", typ, pid), func() bool {
		for _, e := range sh.Events() {
			if (body != nil && bytes.Equal(e.Body, body)) ||
				(body == nil && e.Header.Get("Payments-Event-Type") == typ && e.Header.Get("Payments-Payment-Id") == pid) {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

// checkNativeDelivery asserts what every native delivery carries: the
// original body and Content-Type, the Standard Webhooks headers signed
// over that body, the Payments-* headers, and nothing of the provider's
// request beyond its signature header.
func checkNativeDelivery(t *testing.T, e shopEvent, body []byte, contentType, typ, pid string) {
	t.Helper()
	if !bytes.Equal(e.Body, body) {
		t.Fatalf("native body:\n got  %q\n want %q", e.Body, body)
	}
	if e.Verified != nil {
		t.Fatalf("webhook-signature over the original body does not verify: %v", e.Verified)
	}
	h := e.Header
	if h.Get("Content-Type") != contentType || h.Get("Payments-Format") != "native" ||
		h.Get("Payments-Event-Type") != typ || h.Get("Payments-Payment-Id") != pid || !strings.HasPrefix(h.Get("webhook-id"), "evt_") {
		t.Fatalf("native delivery headers: %v", h)
	}
	for _, k := range []string{"Authorization", "X-Evil", "Cookie"} {
		if h.Get(k) != "" {
			t.Fatalf("the provider's %s header reached the shop", k)
		}
	}
}

// checkCanonicalMarked asserts a canonical event sent to a native-mode
// shop: JSON, marked Payments-Format: canonical, without the provider's
// headers.
func checkCanonicalMarked(t *testing.T, e shopEvent, typ, pid string) map[string]any {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(e.Body, &ev); err != nil {
		t.Fatalf("a canonical-marked delivery is not the canonical event: %q", e.Body)
	}
	h := e.Header
	if e.Verified != nil || h.Get("Content-Type") != "application/json" || h.Get("Payments-Format") != "canonical" ||
		h.Get("Payments-Event-Type") != typ || ev["type"] != typ || ev["id"] != h.Get("webhook-id") || h.Get("Payments-Payment-Id") != pid {
		t.Fatalf("canonical-marked delivery: %v %s (verified: %v)", h, e.Body, e.Verified)
	}
	for _, k := range []string{"Authorization", "Content-Signature", "X-Razorpay-Signature", "X-Evil"} {
		if h.Get(k) != "" {
			t.Fatalf("the provider's %s header reached the shop", k)
		}
	}
	return ev
}

// checkEventsAPI asserts that the Events API serves the canonical event
// under the native delivery's webhook-id.
func checkEventsAPI(t *testing.T, wid, typ, pid string) {
	t.Helper()
	code, ev := api(t, "GET", "/events/"+wid, testToken, nil)
	data, _ := ev["data"].(map[string]any)
	if code != 200 || ev["id"] != wid || ev["type"] != typ || data == nil {
		t.Fatalf("GET /events/%s: %d %v", wid, code, ev)
	}
	if data["object"] == "payment" && data["id"] != pid || data["object"] == "refund" && data["payment_id"] != pid {
		t.Fatalf("GET /events/%s: data %v, want payment %s", wid, data, pid)
	}
}

// redeliverSame asks for a redelivery and checks that the shop gets the
// same bytes and signature header again under the same webhook-id.
func redeliverSame(t *testing.T, sh *shop, e shopEvent, sigHeader string) {
	t.Helper()
	wid := e.Header.Get("webhook-id")
	before := len(nativeDeliveries(sh, wid))
	if code, out := api(t, "POST", "/events/"+wid+"/redeliver", testToken, nil); code != 202 {
		t.Fatalf("redeliver: %d %v", code, out)
	}
	waitFor(t, "the redelivery", func() bool { return len(nativeDeliveries(sh, wid)) > before })
	again := nativeDeliveries(sh, wid)[before]
	if !bytes.Equal(again.Body, e.Body) || again.Verified != nil || again.Header.Get("Payments-Format") != "native" ||
		again.Header.Get("Content-Type") != e.Header.Get("Content-Type") ||
		(sigHeader != "" && again.Header.Get(sigHeader) != e.Header.Get(sigHeader)) {
		t.Fatalf("redelivery differs from the first delivery:\n got  %v %q\n want %v %q", again.Header, again.Body, e.Header, e.Body)
	}
}

// postRaw posts body to a notification route with headers (name, value
// pairs) and returns the status.
func postRaw(t *testing.T, path string, body []byte, headers ...string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", gwBase+path, bytes.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestNativeForwardingPayabl(t *testing.T) {
	sh := newShop(t)
	t.Setenv("PAYABL_TEST_SECRET", payablSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	// public_url leads nowhere: the sandbox's own notifications are lost,
	// and the test posts payabl.'s notifications itself, signed with the
	// sandbox secret, as payabl. would.
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
		}
	}
	payments {
		provider payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
			endpoint http://localhost:9080/sandbox/payabl/pay/backoffice
			forward_format native
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://127.0.0.1:9
		timeout 2s
		retry_schedule 300ms 300ms
		storage_path %s
	}
	reverse_proxy %s
}
`, filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))
	// Signed timestamps from one instant, so no two notifications of a
	// test share one by the clock moving on.
	t0 := time.Now()
	ts := func(d time.Duration) string { return fmt.Sprint(t0.Add(d).Unix()) }
	// note renders a notification in payabl.'s own field order (not
	// url.Values' sorted one), so byte-for-byte means something.
	note := func(tx, typ, code, stamp, state, amount, orderid string) []byte {
		sec := payablnotify.Security(tx, typ, code, stamp, payablSecret)
		s := "transactionid=" + tx + "&type=" + typ + "&errorcode=" + code + "&errormessage=&amount=" + amount + "&currency=EUR&orderid=" + orderid
		if state != "" {
			s += "&payment_state=" + state
		}
		return []byte(s + "&timestamp=" + stamp + "&security=" + sec)
	}
	const formType = "application/x-www-form-urlencoded; charset=ISO-8859-1"
	// As payabl. would post it, plus what must never reach the shop.
	post := func(body []byte) int {
		return postRaw(t, "/notifications/payabl", body, "Content-Type", formType,
			"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("gateway_test:"+payablSecret)), "X-Evil", "evil", "Cookie", "session=1")
	}

	id, tx := createPayabl(t, "ORD-N1", 1999)
	sandboxAction(t, tx, "approve")
	var processing shopEvent

	t.Run("a verified notification reaches the shop as payabl sent it, and the shop's own payabl check passes", func(t *testing.T) {
		body := note(tx, "capture", "0", ts(-2*time.Second), "not_credited_yet", "19.99", "ORD-N1")
		if code := post(body); code != 200 {
			t.Fatalf("notification: HTTP %d", code)
		}
		processing = deliveryWith(t, sh, body, "", "")
		checkNativeDelivery(t, processing, body, formType, "payment.processing", id)
		// The legacy shop of the walk-through (examples/legacyshop) reads it.
		n, err := payablnotify.Parse(processing.Body, payablSecret)
		if err != nil || n.TransactionID != tx || n.OrderID != "ORD-N1" || n.Amount != "19.99" || n.Status() != "pending" {
			t.Fatalf("the legacy shop's parser: %+v %v", n, err)
		}
		checkEventsAPI(t, processing.Header.Get("webhook-id"), "payment.processing", id)
		// payabl. repeats it: acknowledged, not forwarded again.
		if code := post(body); code != 200 {
			t.Fatalf("repeat: HTTP %d", code)
		}
		settle()
		if n := len(nativeDeliveries(sh, processing.Header.Get("webhook-id"))); n != 1 {
			t.Fatalf("a repeated notification reached the shop %d times", n)
		}
	})

	t.Run("a confirmed credited notification, refused once by the shop, is retried from the outbox with the same bytes", func(t *testing.T) {
		sh.status.Store(503)
		body := note(tx, "capture", "0", ts(0), "credited", "19.99", "ORD-N1")
		if code := post(body); code != 200 {
			t.Fatalf("notification: HTTP %d", code)
		}
		first := deliveryWith(t, sh, body, "", "")
		sh.status.Store(200)
		wid := first.Header.Get("webhook-id")
		waitFor(t, "the retried delivery", func() bool {
			ds := nativeDeliveries(sh, wid)
			return ds[len(ds)-1].Status == 200
		})
		ds := nativeDeliveries(sh, wid)
		for _, e := range ds {
			checkNativeDelivery(t, e, body, formType, "payment.succeeded", id)
		}
		if n, err := payablnotify.Parse(ds[len(ds)-1].Body, payablSecret); err != nil || n.Status() != "paid" {
			t.Fatalf("the legacy shop's parser: %+v %v", n, err)
		}
		checkEventsAPI(t, wid, "payment.succeeded", id)
	})

	t.Run("redelivery sends the same original", func(t *testing.T) {
		redeliverSame(t, sh, processing, "")
	})

	t.Run("refund notifications: native with the payment's orderid, canonical with another", func(t *testing.T) {
		refund := func(amount int) string {
			code, rf := api(t, "POST", "/payments/"+id+"/refunds", testToken, map[string]any{"amount": amount, "reference": fmt.Sprintf("RF-N%d", amount)})
			if code != 201 {
				t.Fatalf("refund: %d %v", code, rf)
			}
			return rf["provider_reference"].(string)
		}
		// payabl.'s refund notification names the payment's orderid.
		body := note(refund(500), "refund", "0", ts(time.Second), "", "5.00", "ORD-N1")
		if code := post(body); code != 200 {
			t.Fatalf("refund notification: HTTP %d", code)
		}
		e := deliveryWith(t, sh, body, "", "")
		checkNativeDelivery(t, e, body, formType, "refund.succeeded", id)
		if n, err := payablnotify.Parse(e.Body, payablSecret); err != nil || n.Status() != "refunded" {
			t.Fatalf("the legacy shop's parser: %+v %v", n, err)
		}
		checkEventsAPI(t, e.Header.Get("webhook-id"), "refund.succeeded", id)
		// An orderid neither the refund's nor its payment's: the shop
		// could credit another order, so it gets the canonical event.
		if code := post(note(refund(300), "refund", "0", ts(2*time.Second), "", "3.00", "ORD-OTHER")); code != 200 {
			t.Fatalf("refund notification: HTTP %d", code)
		}
		waitFor(t, "the second refund's event", func() bool {
			n := 0
			for _, x := range sh.Events() {
				if x.Header.Get("Payments-Event-Type") == "refund.succeeded" {
					n++
				}
			}
			return n == 2
		})
		for _, x := range sh.Events() {
			if x.Header.Get("Payments-Event-Type") == "refund.succeeded" && !bytes.Equal(x.Body, body) {
				ev := checkCanonicalMarked(t, x, "refund.succeeded", id)
				if data := ev["data"].(map[string]any); data["amount"] != float64(300) || data["reference"] != "RF-N300" {
					t.Fatalf("event data: %v", data)
				}
			}
		}
	})

	t.Run("tampered notifications never reach the shop", func(t *testing.T) {
		id2, tx2 := createPayabl(t, "ORD-N2", 2500)
		sandboxAction(t, tx2, "approve")
		before := len(sh.Events())
		// A wrong security: refused.
		bad := note(tx2, "capture", "0", ts(-3*time.Second), "not_credited_yet", "25.00", "ORD-N2")
		bad[len(bad)-1] ^= 1
		if code := post(bad); code != 401 {
			t.Fatalf("a notification with a wrong security: HTTP %d", code)
		}
		// A genuine signed tuple with an unsigned amount changed, and one
		// with another orderid: tampering, acknowledged, not forwarded.
		if code := post(note(tx2, "capture", "0", ts(-4*time.Second), "not_credited_yet", "9999.99", "ORD-N2")); code != 200 {
			t.Fatalf("tampered amount: HTTP %d", code)
		}
		if code := post(note(tx2, "capture", "0", ts(-5*time.Second), "not_credited_yet", "25.00", "ORD-EVIL")); code != 200 {
			t.Fatalf("tampered orderid: HTTP %d", code)
		}
		settle()
		if got := sh.Events()[before:]; len(got) != 0 {
			t.Fatalf("a tampered notification reached the shop: %q", got[0].Body)
		}
		// An amount given twice (PHP reads the last, Go the first): the
		// shop could read it otherwise than the gateway checked it, so it
		// goes canonical, never in its original form.
		twice := append(note(tx2, "capture", "0", ts(-6*time.Second), "not_credited_yet", "25.00", "ORD-N2"), "&amount=9999.99"...)
		if code := post(twice); code != 200 {
			t.Fatalf("repeated amount: HTTP %d", code)
		}
		e := deliveryWith(t, sh, nil, "payment.processing", id2)
		ev := checkCanonicalMarked(t, e, "payment.processing", id2)
		if data := ev["data"].(map[string]any); data["amount"] != float64(2500) {
			t.Fatalf("event data: %v", data)
		}
	})

	t.Run("an unverifiable (40-hex) notification reaches the shop in canonical form", func(t *testing.T) {
		id3, tx3 := createPayabl(t, "ORD-N3", 3000)
		sandboxAction(t, tx3, "approve")
		body := []byte("transactionid=" + tx3 + "&type=capture&errorcode=0&timestamp=" + ts(0) + "&security=" + strings.Repeat("ab", 20))
		if code := post(body); code != 200 {
			t.Fatalf("unverifiable notification: HTTP %d", code)
		}
		var e shopEvent
		waitFor(t, "an event about the payment", func() bool {
			for _, x := range sh.Events() {
				if x.Header.Get("Payments-Payment-Id") == id3 {
					e = x
					return true
				}
			}
			return false
		})
		ev := checkCanonicalMarked(t, e, e.Header.Get("Payments-Event-Type"), id3)
		if !strings.HasPrefix(fmt.Sprint(ev["type"]), "payment.") || ev["provider_event"] != nil {
			t.Fatalf("event %v", ev)
		}
		checkEventsAPI(t, e.Header.Get("webhook-id"), fmt.Sprint(ev["type"]), id3)
	})
}

func TestNativeForwardingRazorpay(t *testing.T) {
	sh := newShop(t)
	t.Setenv("RZP_TEST_KEY_SECRET", rzpKeySecret)
	t.Setenv("RZP_TEST_WH_NOW", rzpWebhookNow)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		razorpay {
			key_id %[1]s
			key_secret {env.RZP_TEST_KEY_SECRET}
			webhook_secret {env.RZP_TEST_WH_NOW}
			webhook_url http://localhost:9080/notifications/razorpay
		}
	}
	payments {
		provider razorpay {
			key_id %[1]s
			key_secret {env.RZP_TEST_KEY_SECRET}
			webhook_secret {env.RZP_TEST_WH_NOW}
			account_id %[4]s
			endpoint http://localhost:9080/sandbox/razorpay
			forward_format native
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
	rzpSig := func(body []byte, secret string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}

	id, _, launch := createRazorpay(t, "ORD-NR1", 1999)
	if code, _ := payInBrowser(t, launch, "approve"); code != http.StatusSeeOther {
		t.Fatalf("return: %d", code)
	}
	e := deliveryWith(t, sh, nil, "payment.succeeded", id)

	t.Run("the shop gets Razorpay's webhook with X-Razorpay-Signature, which its own check accepts", func(t *testing.T) {
		checkNativeDelivery(t, e, e.Body, "application/json", "payment.succeeded", id)
		if sig := e.Header.Get("X-Razorpay-Signature"); sig == "" || !hmac.Equal([]byte(sig), []byte(rzpSig(e.Body, rzpWebhookNow))) {
			t.Fatalf("X-Razorpay-Signature %q does not sign the body the shop got", sig)
		}
		var ev map[string]any
		if err := json.Unmarshal(e.Body, &ev); err != nil || ev["entity"] != "event" || ev["account_id"] != rzpAccountID {
			t.Fatalf("not Razorpay's webhook: %s", e.Body)
		}
		if e.Header.Get("X-Razorpay-Event-Id") != "" {
			t.Fatal("an unsigned Razorpay header reached the shop")
		}
		// payment.captured and order.paid announce one success: once.
		time.Sleep(time.Second)
		n := 0
		for _, x := range sh.Events() {
			if x.Header.Get("Payments-Event-Type") == "payment.succeeded" && x.Header.Get("Payments-Payment-Id") == id {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("payment.succeeded reached the shop %d times", n)
		}
		checkEventsAPI(t, e.Header.Get("webhook-id"), "payment.succeeded", id)
	})

	t.Run("redelivery sends the same original and signature", func(t *testing.T) {
		redeliverSame(t, sh, e, "X-Razorpay-Signature")
	})

	t.Run("a tampered webhook never reaches the shop", func(t *testing.T) {
		before := len(sh.Events())
		tampered := bytes.Replace(e.Body, []byte(`"amount":1999`), []byte(`"amount":1`), 1)
		if bytes.Equal(tampered, e.Body) {
			t.Fatalf("no amount to tamper with in %s", e.Body)
		}
		for _, sig := range []string{e.Header.Get("X-Razorpay-Signature"), rzpSig(tampered, "not-the-secret")} {
			if code := postRaw(t, "/notifications/razorpay", tampered, "Content-Type", "application/json", "X-Razorpay-Signature", sig); code != 401 {
				t.Fatalf("tampered webhook: HTTP %d", code)
			}
		}
		settle()
		if got := sh.Events()[before:]; len(got) != 0 {
			t.Fatalf("a tampered webhook reached the shop: %q", got[0].Body)
		}
	})
}

func TestNativeForwardingPaySage(t *testing.T) {
	sh := newShop(t)
	t.Setenv("PAYSAGE_TEST_SECRET", paysageSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		paysage {
			shop_id %[1]s
			secret_key {env.PAYSAGE_TEST_SECRET}
		}
	}
	payments {
		provider paysage {
			shop_id %[1]s
			secret_key {env.PAYSAGE_TEST_SECRET}
			public_key %[2]s
			test
			endpoint http://localhost:9080/sandbox/paysage
			forward_format native
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://127.0.0.1:9
		timeout 2s
		storage_path %[3]s
	}
	reverse_proxy %[4]s
}
`, paysageShopID, sandbox.PaysagePublicKey(), filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))
	der, err := base64.StdEncoding.DecodeString(sandbox.PaysagePublicKey())
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	pub := pk.(*rsa.PublicKey)

	pemBytes, err := os.ReadFile("../sandbox/testdata/paysage_sandbox_test_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes[bytes.Index(pemBytes, []byte("-----BEGIN")):])
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	// public_url leads nowhere: the sandbox's own webhooks are lost, and
	// the test posts them as PaySage does, with HTTP Basic and a
	// Content-Signature made with the sandbox's key.
	webhook := func(uid, status string, amount int, ref string) string {
		return `{"transaction":{"uid":"` + uid + `","type":"payment","status":"` + status + `","amount":` + fmt.Sprint(amount) +
			`,"currency":"EUR","tracking_id":"` + ref + `","message":"Successfully processed","test":true}}`
	}
	id, uid, _ := createPaysage(t, "ORD-NS1", 1999)
	paysageAction(t, uid, "approve")
	body := webhook(uid, "successful", 1999, "ORD-NS1")
	if code := postRaw(t, "/notifications/paysage", []byte(body), "Content-Type", "application/json",
		"Content-Signature", signPaysage(t, key.(*rsa.PrivateKey), body),
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(paysageShopID+":"+paysageSecret)), "X-Evil", "evil"); code != 200 {
		t.Fatalf("webhook: HTTP %d", code)
	}
	e := deliveryWith(t, sh, []byte(body), "", "")

	t.Run("the shop gets PaySage's webhook with Content-Signature, never its Basic credentials", func(t *testing.T) {
		checkNativeDelivery(t, e, e.Body, "application/json", "payment.succeeded", id)
		sig, err := base64.StdEncoding.DecodeString(e.Header.Get("Content-Signature"))
		digest := sha256.Sum256(e.Body)
		if err != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			t.Fatalf("Content-Signature %q does not sign the body the shop got", e.Header.Get("Content-Signature"))
		}
		if !bytes.Contains(e.Body, []byte(`"uid":"`+uid+`"`)) || bytes.Contains(e.Body, []byte(paysageSecret)) {
			t.Fatalf("not PaySage's webhook: %s", e.Body)
		}
		checkEventsAPI(t, e.Header.Get("webhook-id"), "payment.succeeded", id)
	})

	t.Run("redelivery sends the same original and signature", func(t *testing.T) {
		redeliverSame(t, sh, e, "Content-Signature")
	})

	t.Run("a webhook with only Basic authorization reaches the shop in canonical form, without the credentials", func(t *testing.T) {
		id2, uid2, _ := createPaysage(t, "ORD-NS2", 2500)
		paysageAction(t, uid2, "approve")
		if code := postPaysageNotification(t, webhook(uid2, "successful", 2500, "ORD-NS2"), "", paysageShopID+":"+paysageSecret); code != 200 {
			t.Fatalf("Basic-only webhook: HTTP %d", code)
		}
		c := deliveryWith(t, sh, nil, "payment.succeeded", id2)
		checkCanonicalMarked(t, c, "payment.succeeded", id2)
		checkEventsAPI(t, c.Header.Get("webhook-id"), "payment.succeeded", id2)
	})

	t.Run("a tampered webhook never reaches the shop", func(t *testing.T) {
		before := len(sh.Events())
		tampered := bytes.Replace(e.Body, []byte(`"amount":1999`), []byte(`"amount":1`), 1)
		if bytes.Equal(tampered, e.Body) {
			t.Fatalf("no amount to tamper with in %s", e.Body)
		}
		// With the original signature and with wrong Basic credentials.
		if code := postPaysageNotification(t, string(tampered), e.Header.Get("Content-Signature"), ""); code != 401 {
			t.Fatalf("tampered signed webhook: HTTP %d", code)
		}
		if code := postPaysageNotification(t, string(tampered), "", paysageShopID+":wrong"); code != 401 {
			t.Fatalf("tampered webhook with wrong credentials: HTTP %d", code)
		}
		settle()
		if got := sh.Events()[before:]; len(got) != 0 {
			t.Fatalf("a tampered webhook reached the shop: %q", got[0].Body)
		}
	})
}

// forward_format in JSON is validated as in the Caddyfile.
func TestForwardFormatJSON(t *testing.T) {
	t.Setenv("PAYMENTS_T_WHSEC", specSecret)
	cfg := func(format string) string {
		return `{"providers":{"payabl":{"provider":"payabl","merchant_id":"m1","secret":"s3cr3t-payabl","endpoint":"http://127.0.0.1:1",` +
			`"forward_format":"` + format + `"}},"api_tokens":["0123456789abcdef0"],"forward_secrets":["{env.PAYMENTS_T_WHSEC}"],"public_url":"https://shop.example/pay"}`
	}
	for _, ok := range []string{"native", "canonical", ""} {
		if err := provisionJSON(t, cfg(ok)); err != nil {
			t.Fatalf("forward_format %q refused: %v", ok, err)
		}
	}
	if err := provisionJSON(t, cfg("Native")); err == nil || !strings.Contains(err.Error(), "forward_format") {
		t.Fatalf("forward_format Native: %v", err)
	}
}

// An account in canonical format (the default) gets exactly the
// canonical delivery, without Payments-* headers, even for an entry that
// carries a native original (stored while the account was native); a
// native-mode account never sends credentials or hop-by-hop headers a
// stored original might name.
func TestEventMessageFormats(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"refund.succeeded","data":{"id":"re_1","object":"refund","payment_id":"pay_1"}}`)
	orig := &store.NativeOriginal{Method: "POST", ContentType: "application/x-www-form-urlencoded", Body: []byte("a=1&security=x"),
		SignatureHeader: "Authorization", Signature: "Basic c2VjcmV0"}
	h := &Handler{providers: map[string]providers.Provider{
		"canon":  &payabl.Provider{},
		"native": &payabl.Provider{Overrides: providers.Overrides{Forwarding: providers.Forwarding{ForwardFormat: providers.FormatNative}}},
	}, fwdKeys: [][]byte{[]byte("k")}}
	method, hdr, out := h.eventMessage("canon", "evt_1", "refund.succeeded", body, orig, 1700000000)
	if method != "POST" || !bytes.Equal(out, body) || hdr.Get("Content-Type") != "application/json" || len(hdr) != 6 {
		t.Fatalf("canonical account: %s %v %s", method, hdr, out)
	}
	method, hdr, out = h.eventMessage("native", "evt_1", "refund.succeeded", body, orig, 1700000000)
	if method != "POST" || !bytes.Equal(out, orig.Body) || hdr.Get("Authorization") != "" || hdr.Get("Payments-Format") != "native" ||
		hdr.Get("Payments-Payment-Id") != "pay_1" || hdr.Get("Content-Type") != orig.ContentType ||
		hdr.Get("Webhook-Signature") != signStandardWebhooks(h.fwdKeys, "evt_1", 1700000000, orig.Body) {
		t.Fatalf("native account: %s %v %s", method, hdr, out)
	}
	_, hdr, out = h.eventMessage("native", "evt_1", "refund.succeeded", body, nil, 1700000000)
	if !bytes.Equal(out, body) || hdr.Get("Payments-Format") != "canonical" || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("native account, no original: %v %s", hdr, out)
	}
	for _, k := range []string{"Authorization", "proxy-authorization", "Cookie", "Connection", "Transfer-Encoding", "Webhook-Id", "Payments-Format", "Host"} {
		if forwardableHeader(k) {
			t.Errorf("%s may be forwarded as a provider's signature header", k)
		}
	}
	for _, k := range []string{"X-Razorpay-Signature", "Content-Signature"} {
		if !forwardableHeader(k) {
			t.Errorf("%s may not be forwarded", k)
		}
	}
}

// A change the reconciler finds has no provider notification at all: it
// reaches a native-mode shop as the canonical event, marked.
func TestNativeForwardingReconciled(t *testing.T) {
	sh := newShop(t)
	t.Setenv("PAYABL_TEST_SECRET", payablSecret)
	t.Setenv("PAYMENTS_TEST_TOKEN", testToken)
	t.Setenv("PAYMENTS_TEST_WHSEC", testWhsec)
	// public_url leads nowhere: payabl.'s notifications are lost, and only
	// the reconciler (every 300ms) learns of the payment's change.
	loadCaddy(t, fmt.Sprintf(`
http://localhost:9080 {
	payments_sandbox {
		payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
		}
	}
	payments {
		provider payabl {
			merchant_id gateway_test
			secret {env.PAYABL_TEST_SECRET}
			endpoint http://localhost:9080/sandbox/payabl/pay/backoffice
			forward_format native
		}
		api_token {env.PAYMENTS_TEST_TOKEN}
		forward_secret {env.PAYMENTS_TEST_WHSEC}
		public_url http://127.0.0.1:9
		timeout 2s
		retry_schedule 300ms
		reconcile_schedule 300ms
		storage_path %s
	}
	reverse_proxy %s
}
`, filepath.Join(t.TempDir(), "state.db"), sh.srv.URL))
	id, tx := createPayabl(t, "ORD-NREC", 1999)
	sandboxAction(t, tx, "approve")
	var e shopEvent
	waitFor(t, "the reconciler's event", func() bool {
		for _, x := range sh.Events() {
			if x.Header.Get("Payments-Payment-Id") == id {
				e = x
				return true
			}
		}
		return false
	})
	ev := checkCanonicalMarked(t, e, e.Header.Get("Payments-Event-Type"), id)
	if !strings.HasPrefix(fmt.Sprint(ev["type"]), "payment.") {
		t.Fatalf("event %v", ev)
	}
	checkEventsAPI(t, e.Header.Get("webhook-id"), fmt.Sprint(ev["type"]), id)
}
