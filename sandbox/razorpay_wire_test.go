package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Golden samples copied from the reference (Razorpay's documentation).
const (
	// §2.3, orders/create success.
	goldenOrder = `{"amount":5000,"amount_due":5000,"amount_paid":0,"attempts":0,"created_at":1756455561,"currency":"INR",
		"entity":"order","id":"order_RB58MiP5SPFYyM","notes":{"key1":"value3","key2":"value2"},"offer_id":null,
		"receipt":"receipt#1","status":"created"}`
	// §2.3, orders/create failure.
	goldenOrderError = `{"error":{"code":"BAD_REQUEST_ERROR","description":"The amount must be at least INR 1.00","source":"business",
		"step":"payment_initiation","reason":"input_validation_failed","metadata":{},"field":"amount"}}`
	// §9.4, the payment entity of payment.captured.
	goldenPayment = `{"id":"pay_DESlfW9H8K9uqM","entity":"payment","amount":100,"currency":"INR","base_amount":100,
		"status":"captured","order_id":"order_DESlLckIVRkHWj","invoice_id":null,"international":false,
		"method":"netbanking","amount_refunded":0,"amount_transferred":0,"refund_status":null,
		"captured":true,"description":null,"card_id":null,"bank":"HDFC","wallet":null,"vpa":null,
		"email":"gaurav.kumar@example.com","contact":"+919876543210","notes":[],"fee":2,"tax":0,
		"error_code":null,"error_description":null,"error_source":null,"error_step":null,"error_reason":null,
		"acquirer_data":{"bank_transaction_id":"0125836177"},"created_at":1567674599}`
	// §9.5, the refund entity of refund.processed.
	goldenRefund = `{"id":"rfnd_FS8TWyPrCsa0OB","entity":"refund","amount":50000,"currency":"INR",
		"payment_id":"pay_FPoJKWQQ8lK13n","notes":{"comment":"Customer Notes for Webhooks."},
		"receipt":null,"acquirer_data":{"arn":null},"created_at":1597734071,"batch_id":null,
		"status":"processed","speed_processed":"normal","speed_requested":"optimum"}`
)

// keysOf decodes a JSON object and returns its keys.
func keysOf(t *testing.T, s string) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("golden does not parse: %v", err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRazorpaySignatureVector reproduces the published payment signature
// (reference §8.3) with the emulator's signer.
func TestRazorpaySignatureVector(t *testing.T) {
	got := rzpSign("EnLs21M47BllR3X8PSFtjtbd", []byte("order_IEIaMR65cu6nz3|pay_IH4NVgf4Dreq1l"))
	if got != "0d4e745a1838664ad6c9c9902212a32d627d68e917290b0ad5f08ff4561bc50f" {
		t.Fatalf("signature %s", got)
	}
}

func TestRazorpayGoldenShapes(t *testing.T) {
	e := newRzpEnv(t, nil)

	// Order: exactly the documented keys; the documented INR sample body.
	o := e.api(t, "POST", "/v1/orders", `{"amount":5000,"currency":"INR","receipt":"receipt#1","notes":{"key1":"value3","key2":"value2"}}`).ok(t, "order")
	wantKeys(t, "order", o.obj, keysOf(t, goldenOrder)...)
	orderID := o.str("id")
	if !regexp.MustCompile(`^order_[A-Za-z0-9]{14}$`).MatchString(orderID) || o.num("amount") != 5000 || o.num("amount_due") != 5000 ||
		o.num("amount_paid") != 0 || o.num("attempts") != 0 || o.str("status") != "created" || o.str("receipt") != "receipt#1" ||
		o.obj["offer_id"] != nil || o.str("entity") != "order" || o.obj["notes"].(map[string]any)["key1"] != "value3" {
		t.Fatalf("order: %s", o.raw)
	}
	// Empty notes are [] as in Razorpay's samples.
	if o2 := e.api(t, "POST", "/v1/orders", `{"amount":100,"currency":"INR"}`).ok(t, "order"); !strings.Contains(string(o2.raw), `"notes":[]`) || o2.obj["receipt"] != nil {
		t.Fatalf("order without notes/receipt: %s", o2.raw)
	}

	// The documented error sample, byte for byte apart from spacing.
	bad := e.api(t, "POST", "/v1/orders", `{"amount":99,"currency":"INR"}`)
	wantError(t, bad, 400, "amount")
	var want any
	_ = json.Unmarshal([]byte(goldenOrderError), &want)
	wantRaw, _ := json.Marshal(want)
	var got any
	_ = json.Unmarshal(bad.raw, &got)
	gotRaw, _ := json.Marshal(got)
	if string(gotRaw) != string(wantRaw) {
		t.Fatalf("error\n got %s\nwant %s", gotRaw, wantRaw)
	}

	// The Trustly create reply: exactly the documented poll-only shape.
	p := e.api(t, "POST", "/v1/payments/create/json",
		`{"amount":5000,"currency":"INR","contact":9900988990,"email":"gaurav.kumar@example.com","order_id":"`+orderID+`","provider":"trustly","method":"app"}`).ok(t, "payment")
	payID := p.str("razorpay_payment_id")
	if !regexp.MustCompile(`^pay_[A-Za-z0-9]{14}$`).MatchString(payID) {
		t.Fatalf("payment id %q", payID)
	}
	wantBody := `{"razorpay_payment_id":"` + payID + `","next":[{"action":"poll","url":"` + e.base + `/v1/payments/` + payID + `/status"}]}`
	if string(p.raw) != wantBody || p.header.Get("Content-Type") != "application/json" {
		t.Fatalf("create/json reply\n got %s\nwant %s", p.raw, wantBody)
	}
	if s := e.api(t, "GET", "/v1/payments/"+payID+"/status", "").ok(t, "status"); string(s.raw) != `{"status":"created"}` {
		t.Fatalf("status while created: %s", s.raw)
	}

	// Payment entity: the documented keys plus provider (INR: no base_currency).
	pay := e.api(t, "GET", "/v1/payments/"+payID, "").ok(t, "fetch")
	wantKeys(t, "payment", pay.obj, append(keysOf(t, goldenPayment), "provider")...)
	if pay.str("status") != "created" || pay.str("method") != "app" || pay.str("provider") != "trustly" || pay.str("order_id") != orderID ||
		pay.str("contact") != "9900988990" || pay.num("base_amount") != 5000 || pay.obj["international"] != false || pay.obj["fee"] != nil {
		t.Fatalf("payment: %s", pay.raw)
	}

	// A EUR payment carries base_currency INR and a base_amount that is
	// not the amount.
	_, eurPay := e.newPayment(t, 1000, "")
	eur := e.api(t, "GET", "/v1/payments/"+eurPay, "").ok(t, "fetch eur")
	wantKeys(t, "EUR payment", eur.obj, append(keysOf(t, goldenPayment), "provider", "base_currency")...)
	if eur.str("base_currency") != "INR" || eur.num("base_amount") == 1000 || eur.obj["international"] != true {
		t.Fatalf("EUR payment: %s", eur.raw)
	}

	// Refund entity: the documented keys.
	e.sandboxAction(t, eurPay, "approve")
	rf := e.api(t, "POST", "/v1/payments/"+eurPay+"/refund", `{"amount":400,"speed":"optimum","notes":{"comment":"x"}}`).ok(t, "refund")
	wantKeys(t, "refund", rf.obj, keysOf(t, goldenRefund)...)
	if !regexp.MustCompile(`^rfnd_[A-Za-z0-9]{14}$`).MatchString(rf.str("id")) || rf.str("status") != "processed" || rf.str("speed_requested") != "optimum" ||
		rf.str("speed_processed") != "instant" || rf.str("payment_id") != eurPay || rf.str("currency") != "EUR" || rf.num("amount") != 400 {
		t.Fatalf("refund: %s", rf.raw)
	}
}

func TestRazorpayAuthentication(t *testing.T) {
	e := newRzpEnv(t, nil)
	for name, auth := range map[string]string{
		"missing":      "",
		"wrong secret": basic(rzpTestKeyID, "nope"),
		"wrong key id": basic("rzp_test_other", rzpTestKeySecret),
		"lower-case":   strings.Replace(basic(rzpTestKeyID, rzpTestKeySecret), "Basic", "basic", 1),
		"upper-case":   strings.Replace(basic(rzpTestKeyID, rzpTestKeySecret), "Basic", "BASIC", 1),
		"bad base64":   "Basic !!!",
		"bearer":       "Bearer " + rzpTestKeySecret,
	} {
		r := e.do(t, "POST", "/v1/orders", `{"amount":100,"currency":"INR"}`, auth)
		em := wantError(t, r, http.StatusUnauthorized, "")
		if em["source"] != "NA" || strings.Contains(string(r.raw), rzpTestKeySecret) {
			t.Errorf("%s: %s", name, r.raw)
		}
	}
	// Every /v1 path needs it, unknown ones too.
	wantError(t, e.do(t, "GET", "/v1/payments/pay_x", "", ""), http.StatusUnauthorized, "")
	wantError(t, e.do(t, "GET", "/v1/nothing", "", ""), http.StatusUnauthorized, "")
	// Unknown paths and wrong methods get Razorpay's not-found envelope.
	for _, c := range [][2]string{{"GET", "/v1/nothing"}, {"GET", "/v1/payments/create/json"}, {"DELETE", "/v1/orders"}, {"POST", "/v1/refunds/rfnd_x"}} {
		r := e.api(t, c[0], c[1], "")
		if em := wantError(t, r, 400, ""); em["description"] != "The requested URL was not found on the server." {
			t.Errorf("%s %s: %s", c[0], c[1], r.raw)
		}
	}
	// Unknown ids.
	for _, path := range []string{"/v1/orders/order_none", "/v1/orders/order_none/payments", "/v1/payments/pay_none",
		"/v1/payments/pay_none/refunds", "/v1/refunds/rfnd_none", "/v1/payments/pay_none/status"} {
		r := e.api(t, "GET", path, "")
		if em := wantError(t, r, 400, ""); em["description"] != "The id provided does not exist" {
			t.Errorf("%s: %s", path, r.raw)
		}
	}
	// Outside /v1: the checkout of an unknown token is a plain 404.
	if st, _ := getPage(t, e.base+"/checkout/"+strings.Repeat("0", 40)); st != http.StatusNotFound {
		t.Fatalf("unknown checkout: HTTP %d", st)
	}
	if st, _ := getPage(t, e.base+"/elsewhere"); st != http.StatusNotFound {
		t.Fatalf("unknown path: HTTP %d", st)
	}
}

func TestRazorpayOrderValidation(t *testing.T) {
	e := newRzpEnv(t, nil)
	opts := `"capture_options":{"automatic_expiry_period":12,"refund_speed":"normal"}`
	for _, c := range []struct{ body, field string }{
		{``, ""},
		{`not json`, ""},
		{`[1]`, ""},
		{`{"currency":"EUR"}`, "amount"},
		{`{"amount":"100","currency":"EUR"}`, "amount"},
		{`{"amount":100.0,"currency":"EUR"}`, "amount"},
		{`{"amount":1e3,"currency":"EUR"}`, "amount"},
		{`{"amount":99,"currency":"EUR"}`, "amount"},
		{`{"amount":-100,"currency":"EUR"}`, "amount"},
		{`{"amount":99999999999999999999,"currency":"EUR"}`, "amount"},
		{`{"amount":100}`, "currency"},
		{`{"amount":100,"currency":"EURO"}`, "currency"},
		{`{"amount":100,"currency":"XYZ"}`, "currency"},
		{`{"amount":100,"currency":3}`, "currency"},
		{`{"amount":100,"currency":"EUR","receipt":"` + strings.Repeat("r", 41) + `"}`, "receipt"},
		{`{"amount":100,"currency":"EUR","receipt":"caf\u00e9"}`, "receipt"},
		{`{"amount":100,"currency":"EUR","notes":"x"}`, "notes"},
		{`{"amount":100,"currency":"EUR","notes":{"a":{"b":1}}}`, "notes"},
		{`{"amount":100,"currency":"EUR","notes":{"a":"` + strings.Repeat("n", 257) + `"}}`, "notes"},
		{`{"amount":100,"currency":"EUR","notes":{` + manyNotes(16) + `}}`, "notes"},
		{`{"amount":100,"currency":"EUR","unique_receipt":true}`, "unique_receipt"},
		{`{"amount":100,"currency":"EUR","partial_payment":"yes"}`, "partial_payment"},
		{`{"amount":100,"currency":"EUR","first_payment_min_amount":50}`, "first_payment_min_amount"},
		{`{"amount":100,"currency":"EUR","payment_capture":2}`, "payment_capture"},
		{`{"amount":100,"currency":"EUR","payment":"automatic"}`, "payment"},
		{`{"amount":100,"currency":"EUR","payment":{"capture":"sometimes",` + opts + `}}`, "payment.capture"},
		{`{"amount":100,"currency":"EUR","payment":{"capture":"automatic"}}`, "payment.capture_options"},
		{`{"amount":100,"currency":"EUR","payment":{"capture":"automatic",` + opts + `,"x":1}}`, "payment.x"},
		{`{"amount":100,"currency":"EUR","payment":{"capture":"automatic","capture_options":{"refund_speed":"normal"}}}`, "payment.capture_options.automatic_expiry_period"},
		{`{"amount":100,"currency":"EUR","payment":{"capture":"automatic","capture_options":{"automatic_expiry_period":11,"refund_speed":"normal"}}}`, "payment.capture_options.automatic_expiry_period"},
		{`{"amount":100,"currency":"EUR","payment":{"capture":"automatic","capture_options":{"automatic_expiry_period":30,"manual_expiry_period":20,"refund_speed":"normal"}}}`, "payment.capture_options.manual_expiry_period"},
		{`{"amount":100,"currency":"EUR","payment":{"capture":"automatic","capture_options":{"automatic_expiry_period":12,"manual_expiry_period":7201,"refund_speed":"normal"}}}`, "payment.capture_options.manual_expiry_period"},
		{`{"amount":100,"currency":"EUR","payment":{"capture":"automatic","capture_options":{"automatic_expiry_period":12}}}`, "payment.capture_options.refund_speed"},
		{`{"amount":100,"currency":"EUR","payment":{"capture":"automatic","capture_options":{"automatic_expiry_period":12,"refund_speed":"fast"}}}`, "payment.capture_options.refund_speed"},
	} {
		r := e.api(t, "POST", "/v1/orders", c.body)
		if r.status != 400 {
			t.Errorf("%s: HTTP %d %s", c.body, r.status, r.raw)
			continue
		}
		wantError(t, r, 400, c.field)
	}
	// Extra fields say which, with reason extra_field_sent.
	r := e.api(t, "POST", "/v1/orders", `{"amount":100,"currency":"EUR","foo":1,"bar":2}`)
	if em := wantError(t, r, 400, "bar, foo"); em["reason"] != "extra_field_sent" || em["description"] != "bar, foo is/are not required and should not be sent" {
		t.Fatalf("extra fields: %s", r.raw)
	}
	// A form body is refused: the API is JSON.
	r = e.api(t, "POST", "/v1/orders", "amount=100&currency=EUR", "Content-Type", "application/x-www-form-urlencoded")
	wantError(t, r, 400, "")

	// Valid edge cases: exponent-0 and -3 minimums, legacy payment_capture,
	// the maximum 15 notes and a 40-character receipt.
	for _, body := range []string{
		`{"amount":1,"currency":"JPY"}`,
		`{"amount":1000,"currency":"KWD"}`,
		`{"amount":100,"currency":"EUR","payment_capture":0}`,
		`{"amount":100,"currency":"EUR","payment_capture":true,"partial_payment":false}`,
		`{"amount":100,"currency":"EUR","notes":{` + manyNotes(15) + `},"receipt":"` + strings.Repeat("r", 40) + `"}`,
		`{"amount":100,"currency":"EUR","notes":[]}`,
	} {
		e.api(t, "POST", "/v1/orders", body).ok(t, body)
	}
	if r := e.api(t, "POST", "/v1/orders", `{"amount":999,"currency":"KWD"}`); r.status != 400 || !strings.Contains(string(r.raw), "KWD 1.000") {
		t.Fatalf("KWD minimum: %s", r.raw)
	}
}

// manyNotes renders n note pairs.
func manyNotes(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"k%d":"v"`, i))
	}
	return strings.Join(parts, ",")
}

func TestRazorpayPaymentValidation(t *testing.T) {
	e := newRzpEnv(t, nil)
	orderID := e.newOrder(t, 5000, "EUR", "ref-v")
	base := map[string]any{"amount": 5000, "currency": "EUR", "order_id": orderID, "email": "jane@example.com",
		"contact": "+46701234567", "method": "app", "provider": "trustly"}
	with := func(changes map[string]any) string {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, c := range []struct {
		change map[string]any
		field  string
	}{
		{map[string]any{"amount": nil}, "amount"},
		{map[string]any{"amount": "5000"}, "amount"},
		{map[string]any{"amount": 4999}, "amount"},
		{map[string]any{"amount": 50}, "amount"},
		{map[string]any{"currency": nil}, "currency"},
		{map[string]any{"currency": "GBP"}, "currency"},
		{map[string]any{"order_id": nil}, "order_id"},
		{map[string]any{"order_id": "order_doesnotexist00"}, "order_id"},
		{map[string]any{"email": nil}, "email"},
		{map[string]any{"email": "not-an-email"}, "email"},
		{map[string]any{"email": strings.Repeat("a", 30) + "@example.com"}, "email"},
		{map[string]any{"contact": nil}, "contact"},
		{map[string]any{"contact": "+4670123456789012"}, "contact"},
		{map[string]any{"contact": "12345"}, "contact"},
		{map[string]any{"contact": "phone"}, "contact"},
		{map[string]any{"contact": true}, "contact"},
		{map[string]any{"method": nil}, "method"},
		{map[string]any{"method": "card"}, "method"},
		{map[string]any{"provider": nil}, "provider"},
		{map[string]any{"provider": "sofort"}, "provider"},
		{map[string]any{"ip": "not-an-ip"}, "ip"},
		{map[string]any{"callback_url": "/relative"}, "callback_url"},
		{map[string]any{"callback_url": "javascript:alert(1)"}, "callback_url"},
		{map[string]any{"notes": map[string]any{"a": strings.Repeat("n", 257)}}, "notes"},
		{map[string]any{"description": 5}, "description"},
		{map[string]any{"user_agent": 5}, "user_agent"},
		{map[string]any{"key_id": "rzp_test_other"}, "key_id"},
		{map[string]any{"card": map[string]any{"number": "4111"}}, "card"},
	} {
		for _, variant := range []string{"json", "redirect"} {
			r := e.api(t, "POST", "/v1/payments/create/"+variant, with(c.change))
			if r.status != 400 || r.obj == nil {
				t.Errorf("%s %v: HTTP %d %s", variant, c.change, r.status, r.raw)
				continue
			}
			wantError(t, r, 400, c.field)
		}
	}
	// Nothing was created by the refused requests.
	if o := e.api(t, "GET", "/v1/orders/"+orderID, "").ok(t, "order"); o.num("attempts") != 0 || o.str("status") != "created" {
		t.Fatalf("refused payments changed the order: %s", o.raw)
	}
	// Both referer spellings, a numeric contact, the key_id and an IPv6 ip are accepted.
	e.api(t, "POST", "/v1/payments/create/json", with(map[string]any{"referrer": "https://shop.example/", "contact": 46701234567,
		"key_id": rzpTestKeyID, "ip": "2001:db8::1", "referer": "https://shop.example/a"})).ok(t, "variants")
}
