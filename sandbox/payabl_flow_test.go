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

// inspectPayments reads the sandbox-only JSON listing.
func inspectPayments(t *testing.T, base string) []payablView {
	t.Helper()
	resp, err := http.Get(base + "/sandbox/payabl/_sandbox/payments")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Sandbox  string       `json:"sandbox"`
		Payments []payablView `json:"payments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Sandbox, "sandbox only") {
		t.Fatalf("listing is not marked sandbox-only: %q", out.Sandbox)
	}
	return out.Payments
}

func findView(list []payablView, id string) *payablView {
	for i := range list {
		if list[i].TransactionID == id {
			return &list[i]
		}
	}
	return nil
}

func TestPayablApproveFlow(t *testing.T) {
	rc := newReceiver(t)
	srv, _ := defaultSandbox(t)

	reply := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/payabl")
	id := reply.Get("transactionid")
	if !regexp.MustCompile(`^[1-9][0-9]{8}$`).MatchString(id) || reply.Get("transid") != id {
		t.Fatalf("transactionid %q / transid %q", id, reply.Get("transid"))
	}
	for k, want := range map[string]string{"errormessage": "pending", "errmsg": "pending", "amount": "19.99", "price": "19.99",
		"currency": "EUR", "orderid": "ORD-1001", "payment_method": "116"} {
		if reply.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, reply.Get(k), want)
		}
	}
	if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(reply.Get("user_id")) {
		t.Errorf("user_id %q", reply.Get("user_id"))
	}
	pageURL := reply.Get("redirect_url")
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(srv.URL) + `/sandbox/payabl/pay/[0-9a-f]{40}/payment/redirect_to_bank$`).MatchString(pageURL) {
		t.Fatalf("redirect_url %q", pageURL)
	}
	if got := diagCode(t, srv, id); got != "2000" {
		t.Fatalf("diagnose before approve = %s, want 2000", got)
	}

	status, page := getPage(t, pageURL)
	if status != http.StatusOK {
		t.Fatalf("checkout page HTTP %d", status)
	}
	for _, want := range []string{"SANDBOX — no real money", "19.99 EUR", "ORD-1001", "gateway_test", ">Approve<", ">Decline<"} {
		if !strings.Contains(page, want) {
			t.Errorf("checkout page lacks %q", want)
		}
	}
	if strings.Contains(page, testSecret) {
		t.Fatal("checkout page contains the secret")
	}
	m := formTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no form token on the page")
	}
	if resp := clickButton(t, pageURL, "0000", "approve"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong form token: HTTP %d, want 403", resp.StatusCode)
	}

	resp := clickButton(t, pageURL, m[1], "approve")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://shop.example/ok" {
		t.Fatalf("approve: HTTP %d Location %q, want 303 to url_success", resp.StatusCode, resp.Header.Get("Location"))
	}

	n1, n2 := rc.next(t), rc.next(t)
	for i, n := range []notification{n1, n2} {
		verifySecurity(t, n, testSecret)
		f := n.form
		if f.Get("transactionid") != id || f.Get("type") != "capture" || f.Get("errorcode") != "0" || f.Get("errormessage") != "" ||
			f.Get("amount") != "19.99" || f.Get("currency") != "EUR" || f.Get("orderid") != "ORD-1001" {
			t.Errorf("notification %d: %s", i+1, n.raw)
		}
	}
	if n1.form.Get("payment_state") != "not_credited_yet" || n2.form.Get("payment_state") != "credited" {
		t.Fatalf("payment_state sequence %q, %q", n1.form.Get("payment_state"), n2.form.Get("payment_state"))
	}
	rc.none(t, 100*time.Millisecond)
	if got := diagCode(t, srv, id); got != "0" {
		t.Fatalf("diagnose after credited = %s, want 0", got)
	}

	// The recorded deliveries carry the receiver's status and whether it
	// acknowledged, never its body.
	eventually(t, "two recorded deliveries", func() bool {
		v := findView(inspectPayments(t, srv.URL), id)
		return v != nil && len(v.Notifications) == 2
	})
	v := findView(inspectPayments(t, srv.URL), id)
	for _, d := range v.Notifications {
		if d.HTTPStatus != 200 || !d.Acknowledged {
			t.Errorf("delivery recorded as %+v", d)
		}
	}
	if v.PaymentState != "credited" || v.Status != 0 || !v.Test || v.AmountMinor != 1999 {
		t.Errorf("view %+v", v)
	}

	// Deciding twice is refused, on the page and on the JSON endpoint.
	if resp := clickButton(t, pageURL, m[1], "decline"); resp.StatusCode != http.StatusConflict {
		t.Fatalf("second decision: HTTP %d, want 409", resp.StatusCode)
	}
	if status, _ := postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/"+id+"/decline", ""); status != http.StatusConflict {
		t.Fatalf("JSON decline after approve: HTTP %d, want 409", status)
	}
}

func TestPayablDecline(t *testing.T) {
	rc := newReceiver(t)
	srv, _ := defaultSandbox(t)

	// Scripted decline through the sandbox-only endpoint.
	id := createPayment(t, srv, "25.00", rc.srv.URL+"/notifications/test").Get("transactionid")
	status, body := postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/"+id+"/decline", "")
	if status != http.StatusOK {
		t.Fatalf("decline: HTTP %d %s", status, body)
	}
	var out struct {
		Payment payablView `json:"payment"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Payment.Status != -5003 || out.Payment.PaymentState != "not_credited" {
		t.Fatalf("decline reply %s (%v)", body, err)
	}
	n := rc.next(t)
	verifySecurity(t, n, testSecret)
	if n.form.Get("errorcode") != "-5003" || n.form.Get("errormessage") != "Payment aborted by customer" ||
		n.form.Get("payment_state") != "not_credited" || n.form.Get("type") != "capture" || n.form.Get("transactionid") != id {
		t.Fatalf("decline notification %s", n.raw)
	}
	rc.none(t, 100*time.Millisecond)
	if got := diagCode(t, srv, id); got != "-5003" {
		t.Fatalf("diagnose after decline = %s", got)
	}

	// Decline button without url_failed falls back to url_return.
	params := preauthParams("25.00", rc.srv.URL+"/notifications/test")
	delete(params, "url_failed")
	delete(params, "url_success")
	params["url_return"] = "https://shop.example/back"
	reply := call(t, srv, "payment_preauthorize", signed(params, testSecret))
	wantStatus(t, reply, "2000")
	_, page := getPage(t, reply.Get("redirect_url"))
	m := formTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no form token")
	}
	resp := clickButton(t, reply.Get("redirect_url"), m[1], "decline")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://shop.example/back" {
		t.Fatalf("decline: HTTP %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	verifySecurity(t, rc.next(t), testSecret)

	// Unknown payment on the JSON endpoint.
	if status, _ := postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/123456789/approve", ""); status != http.StatusNotFound {
		t.Fatalf("unknown payment: HTTP %d", status)
	}
}

// approveAndWait approves id via the JSON endpoint and waits for both notifications.
func approveAndWait(t *testing.T, srv string, rc *receiver, id string) {
	t.Helper()
	if status, body := postRaw(t, srv+"/sandbox/payabl/_sandbox/payments/"+id+"/approve", ""); status != http.StatusOK {
		t.Fatalf("approve: HTTP %d %s", status, body)
	}
	rc.next(t)
	if n := rc.next(t); n.form.Get("payment_state") != "credited" {
		t.Fatalf("second notification %s", n.raw)
	}
}

func TestPayablRefund(t *testing.T) {
	rc := newReceiver(t)
	srv, _ := defaultSandbox(t)
	id := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/test").Get("transactionid")

	refund := func(txn, amount, currency string) url.Values {
		return call(t, srv, "payment_refund", signed(map[string]string{
			"merchantid": "gateway_test", "transactionid": txn, "amount": amount, "currency": currency}, testSecret))
	}

	// Not credited yet.
	r := refund(id, "1.00", "EUR")
	wantStatus(t, r, "-5007")
	if !strings.Contains(r.Get("errormessage"), "credited") || r.Get("errmsg") != r.Get("errormessage") {
		t.Fatalf("errormessage %q", r.Get("errormessage"))
	}
	approveAndWait(t, srv.URL, rc, id)

	wantStatus(t, refund("987654321", "1.00", "EUR"), "-5007")
	wantStatus(t, refund(id, "1.0", "EUR"), "-6102")
	wantStatus(t, refund(id, "1.00", "USD"), "-6103")
	wantStatus(t, refund(id, "1.00", "SEK"), "-6103")
	wantStatus(t, refund(id, "20.00", "EUR"), "-5007")

	r = refund(id, "10.00", "EUR")
	wantStatus(t, r, "0")
	rid := r.Get("transactionid")
	if rid == id || len(rid) != 9 || r.Get("transid") != rid || r.Get("amount") != "10.00" || r.Get("price") != "10.00" ||
		r.Get("currency") != "EUR" || r.Get("orderid") != "ORD-1001" || r.Get("errormessage") != "" {
		t.Fatalf("refund reply %v", r)
	}
	n := rc.next(t)
	verifySecurity(t, n, testSecret)
	if n.form.Get("type") != "refund" || n.form.Get("transactionid") != rid || n.form.Get("errorcode") != "0" || n.form.Get("amount") != "10.00" {
		t.Fatalf("refund notification %s", n.raw)
	}

	// 10.00 refunded; 9.99 remains, then nothing.
	r = refund(id, "10.00", "EUR")
	wantStatus(t, r, "-5007")
	if !strings.Contains(r.Get("errormessage"), "9.99") {
		t.Fatalf("cap message %q does not state the remaining amount", r.Get("errormessage"))
	}
	wantStatus(t, refund(id, "9.99", "EUR"), "0")
	rc.next(t)
	wantStatus(t, refund(id, "0.01", "EUR"), "-5007")
	if got := diagCode(t, srv, rid); got != "0" {
		t.Fatalf("refund diagnose %s", got)
	}
	d := diagnose(t, srv, map[string]string{"type": "tx", "transactionid": rid})
	if d.Transactions[0].Type != "refund" || d.Transactions[0].OrderID != "ORD-1001" {
		t.Fatalf("refund diagnose %+v", d.Transactions[0])
	}

	// A refund signed with the wrong secret is -999.
	bad := signed(map[string]string{"merchantid": "gateway_test", "transactionid": id, "amount": "1.00", "currency": "EUR"}, "b185")
	wantStatus(t, call(t, srv, "payment_refund", bad), "-999")
}

func TestPayablPreauthorizeValidation(t *testing.T) {
	srv, _ := defaultSandbox(t)
	tests := []struct {
		name   string
		change map[string]string
		status string
	}{
		{"wrong merchant", map[string]string{"merchantid": "someone_else"}, "-999"},
		{"method", map[string]string{"payment_method": "1"}, "-1316"},
		{"amount three decimals", map[string]string{"amount": "1.234"}, "-6102"},
		{"amount one decimal", map[string]string{"amount": "1.5"}, "-6102"},
		{"amount nine digits", map[string]string{"amount": "123456789"}, "-6102"},
		{"amount comma", map[string]string{"amount": "1,50"}, "-6102"},
		{"amount zero", map[string]string{"amount": "0.00"}, "-6102"},
		{"currency not Trustly", map[string]string{"currency": "USD"}, "-6103"},
		{"currency lowercase", map[string]string{"currency": "eur"}, "-6103"},
		{"country alpha-2", map[string]string{"country": "SE"}, "-6000"},
		{"country not Trustly", map[string]string{"country": "CYP"}, "-6000"},
		{"orderid 41", map[string]string{"orderid": strings.Repeat("o", 41)}, "-6000"},
		{"firstname 51", map[string]string{"firstname": strings.Repeat("f", 51)}, "-6113"},
		{"lastname 51", map[string]string{"lastname": strings.Repeat("l", 51)}, "-6105"},
		{"email missing", map[string]string{"email": ""}, "-6119"},
		{"email 51", map[string]string{"email": strings.Repeat("e", 39) + "@example.com"}, "-6119"},
		{"email no at", map[string]string{"email": "jane.example.com"}, "-6119"},
		{"language", map[string]string{"language": "xx"}, "-6109"},
		{"url_success not http", map[string]string{"url_success": "ftp://shop.example/ok"}, "-6000"},
		{"ok amount 8", map[string]string{"amount": "8"}, "2000"},
		{"ok names 50", map[string]string{"firstname": strings.Repeat("f", 50), "orderid": strings.Repeat("o", 40)}, "2000"},
		{"ok no language", map[string]string{"language": ""}, "2000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := preauthParams("19.99", "")
			for k, v := range tc.change {
				params[k] = v
			}
			reply := call(t, srv, "payment_preauthorize", signed(params, testSecret))
			wantStatus(t, reply, tc.status)
			if tc.status != "2000" && (reply.Get("errormessage") == "" || reply.Get("transactionid") != "" || reply.Get("redirect_url") != "") {
				t.Fatalf("error reply %v", reply)
			}
		})
	}

	// A correct signature over a tampered value is -999.
	params := signed(preauthParams("19.99", ""), testSecret)
	params["amount"] = "1.00"
	wantStatus(t, call(t, srv, "payment_preauthorize", params), "-999")
	// Upper-case hex is not what payabl. specifies.
	params = signed(preauthParams("19.99", ""), testSecret)
	params["signature"] = strings.ToUpper(params["signature"])
	wantStatus(t, call(t, srv, "payment_preauthorize", params), "-999")
	// Missing signature.
	params = preauthParams("19.99", "")
	wantStatus(t, call(t, srv, "payment_preauthorize", params), "-999")
}

// TestPayablLatin1 sends Latin-1 bytes: the signature covers the Latin-1
// bytes, the checkout page shows the right characters, and the diagnose
// XML carries them as ISO-8859-1.
func TestPayablLatin1(t *testing.T) {
	srv, _ := defaultSandbox(t)
	params := preauthParams("19.99", "")
	params["lastname"] = "Müller"
	params["orderid"] = "Bestellung-Müller"
	latin1Sig := payablSignature(params, testSecret) // hashes Latin-1 bytes
	encode := func(sig string) string {
		v := url.Values{}
		for k, x := range params {
			v.Set(k, x)
		}
		v.Set("signature", sig)
		// url.Values encodes UTF-8; rewrite ü (C3 BC) as its Latin-1 byte.
		return strings.ReplaceAll(v.Encode(), "%C3%BC", "%FC")
	}

	// Signed over UTF-8 bytes while sending Latin-1: rejected.
	utf8Sig := testSign(params, testSecret)
	if utf8Sig == latin1Sig {
		t.Fatal("test premise: UTF-8 and Latin-1 signatures must differ")
	}
	_, body := postRaw(t, srv.URL+"/sandbox/payabl/pay/backoffice/payment_preauthorize", encode(utf8Sig))
	wantStatus(t, mustForm(t, body), "-999")

	_, body = postRaw(t, srv.URL+"/sandbox/payabl/pay/backoffice/payment_preauthorize", encode(latin1Sig))
	if !strings.Contains(string(body), "orderid=Bestellung-M%FCller") {
		t.Fatalf("reply is not Latin-1 form encoded: %q", body)
	}
	reply := mustForm(t, body)
	wantStatus(t, reply, "2000")
	id := reply.Get("transactionid")
	_, page := getPage(t, reply.Get("redirect_url"))
	if !strings.Contains(page, "Bestellung-Müller") {
		t.Fatal("checkout page does not show the Latin-1 order id correctly")
	}

	q := map[string]string{"merchantid": "gateway_test", "type": "tx", "transactionid": id}
	q["signature"] = testSign(q, testSecret)
	v := url.Values{}
	for k, x := range q {
		v.Set(k, x)
	}
	d, raw := diagnoseRaw(t, srv, v.Encode())
	if !strings.Contains(string(raw), "Bestellung-M\xfcller") {
		t.Fatalf("diagnose XML is not ISO-8859-1 encoded: %q", raw)
	}
	if d.Transactions[0].OrderID != "Bestellung-Müller" {
		t.Fatalf("order_id %q", d.Transactions[0].OrderID)
	}
}

func TestPayablDiagnose(t *testing.T) {
	rc := newReceiver(t)
	srv, _ := defaultSandbox(t)
	id := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/test").Get("transactionid")

	d := diagnose(t, srv, map[string]string{"type": "tx", "transactionid": id})
	if d.Process.Status != "0" || d.Process.ErrorMessage != "" || len(d.Transactions) != 1 {
		t.Fatalf("diagnose %+v", d)
	}
	if !regexp.MustCompile(`^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}$`).MatchString(d.Process.ProcessTime) {
		t.Fatalf("process_time %q", d.Process.ProcessTime)
	}
	tx := d.Transactions[0]
	if tx.Amount != "19.99" || tx.Currency != "EUR" || tx.Custom1 != "cart-42" || tx.ErrorCode != "2000" || tx.OrderID != "ORD-1001" ||
		tx.Type != "capture" || tx.TransactionID != id {
		t.Fatalf("transaction %+v", tx)
	}
	if _, err := time.Parse("02.01.2006 15:04:05", tx.CreationDate); err != nil {
		t.Fatalf("creation_date %q", tx.CreationDate)
	}

	// A second payment with the same orderid: both are found.
	createPayment(t, srv, "5.00", rc.srv.URL+"/notifications/test")
	today := time.Now().UTC().Format("02.01.2006")
	d = diagnose(t, srv, map[string]string{"type": "orderid", "orderid": "ORD-1001", "start_date": today, "end_date": today})
	if d.Process.Status != "0" || len(d.Transactions) != 2 {
		t.Fatalf("by orderid: %+v", d)
	}
	d = diagnose(t, srv, map[string]string{"type": "orderid", "orderid": "ORD-1001", "start_date": "01.01.2020", "end_date": "31.01.2020"})
	if d.Process.Status == "0" || len(d.Transactions) != 0 {
		t.Fatalf("out of range: %+v", d)
	}
	d = diagnose(t, srv, map[string]string{"type": "capture", "start_date": today, "end_date": today})
	if len(d.Transactions) != 2 {
		t.Fatalf("by type capture: %d", len(d.Transactions))
	}

	for name, q := range map[string]map[string]string{
		"unknown tx":   {"type": "tx", "transactionid": "111111111"},
		"bad type":     {"type": "everything"},
		"bad date":     {"type": "orderid", "orderid": "ORD-1001", "start_date": "2024-01-01", "end_date": today},
		"missing date": {"type": "refund"},
	} {
		d := diagnose(t, srv, q)
		if d.Process.Status == "0" || d.Process.ErrorMessage == "" || len(d.Transactions) != 0 {
			t.Errorf("%s: %+v", name, d)
		}
	}

	// Wrong signature: XML with -999.
	q := signed(map[string]string{"merchantid": "gateway_test", "type": "tx", "transactionid": id}, "b185")
	v := url.Values{}
	for k, x := range q {
		v.Set(k, x)
	}
	if d, _ := diagnoseRaw(t, srv, v.Encode()); d.Process.Status != "-999" || len(d.Transactions) != 0 {
		t.Fatalf("bad signature: %+v", d)
	}
}

func TestPayablReceiverNotOK(t *testing.T) {
	rc := newReceiver(t)
	rc.reply = "received, thanks"
	srv, _ := defaultSandbox(t)
	id := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/test").Get("transactionid")
	postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/"+id+"/decline", "")
	rc.next(t)
	eventually(t, "recorded delivery", func() bool {
		v := findView(inspectPayments(t, srv.URL), id)
		return v != nil && len(v.Notifications) == 1
	})
	d := findView(inspectPayments(t, srv.URL), id).Notifications[0]
	if d.HTTPStatus != 200 || d.Acknowledged {
		t.Fatalf("delivery %+v: a body other than OK is not an acknowledgement", d)
	}

	// Without notification_url nothing is sent, and the listing says why.
	id = createPayment(t, srv, "19.99", "").Get("transactionid")
	postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/"+id+"/decline", "")
	eventually(t, "recorded skip", func() bool {
		v := findView(inspectPayments(t, srv.URL), id)
		return v != nil && len(v.Notifications) == 1 && v.Notifications[0].Error != ""
	})
	rc.none(t, 100*time.Millisecond)
}

func TestCleanupStopsDeliveries(t *testing.T) {
	rc := newReceiver(t)
	srv, h := sandboxServer(t, &Handler{NotifyDelay: caddy.Duration(time.Hour), Payabl: &PayablConfig{Secret: testSecret}})
	id := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/test").Get("transactionid")
	approveAndWaitFirst(t, srv.URL, rc, id)
	start := time.Now()
	if err := h.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Cleanup did not stop the pending delivery promptly")
	}
	rc.none(t, 100*time.Millisecond)
	// After Cleanup no new background work starts.
	id2 := createPayment(t, srv, "19.99", rc.srv.URL+"/notifications/test").Get("transactionid")
	if status, _ := postRaw(t, srv.URL+"/sandbox/payabl/_sandbox/payments/"+id2+"/approve", ""); status != http.StatusServiceUnavailable {
		t.Fatalf("approve after Cleanup: HTTP %d, want 503", status)
	}
}

func approveAndWaitFirst(t *testing.T, base string, rc *receiver, id string) {
	t.Helper()
	if status, body := postRaw(t, base+"/sandbox/payabl/_sandbox/payments/"+id+"/approve", ""); status != http.StatusOK {
		t.Fatalf("approve: HTTP %d %s", status, body)
	}
	if n := rc.next(t); n.form.Get("payment_state") != "not_credited_yet" {
		t.Fatalf("first notification %s", n.raw)
	}
}

func TestRouting(t *testing.T) {
	srv, _ := sandboxServer(t, &Handler{Prefix: "/psp/", PublicURL: "https://pay.example/psp", Payabl: &PayablConfig{Secret: testSecret}})
	get := func(path string) *http.Response {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, p := range []string{"/", "/sandbox/payabl/_sandbox/payments", "/pspx/payabl/_sandbox/payments"} {
		if resp := get(p); resp.Header.Get("X-Next") != "1" {
			t.Errorf("%s was not passed to next", p)
		}
	}
	for path, want := range map[string]int{
		"/psp":                                         http.StatusNotFound,
		"/psp/razorpay/v1/orders":                      http.StatusUnauthorized, // served by the Razorpay emulator (no Basic auth)
		"/psp/unknownpsp/v1/orders":                    http.StatusNotFound,
		"/psp/payabl/pay/backoffice/tx_diagnose":       http.StatusMethodNotAllowed,
		"/psp/payabl/pay/abc/payment/redirect_to_bank": http.StatusNotFound,
		"/psp/payabl/_sandbox/payments":                http.StatusOK,
		"/psp/payabl/nothing":                          http.StatusNotFound,
	} {
		resp := get(path)
		if resp.StatusCode != want || resp.Header.Get("X-Next") != "" || resp.Header.Get("X-Payments-Sandbox") != "test" {
			t.Errorf("%s: HTTP %d next=%q, want %d served by the sandbox", path, resp.StatusCode, resp.Header.Get("X-Next"), want)
		}
	}
	if status, _ := postRaw(t, srv.URL+"/psp/payabl/pay/backoffice/payment_capture", ""); status != http.StatusNotFound {
		t.Errorf("unemulated op: HTTP %d", status)
	}

	// public_url decides the checkout link.
	v := url.Values{}
	for k, x := range signed(preauthParams("19.99", ""), testSecret) {
		v.Set(k, x)
	}
	_, body := postRaw(t, srv.URL+"/psp/payabl/pay/backoffice/payment_preauthorize", v.Encode())
	reply := mustForm(t, body)
	if !strings.HasPrefix(reply.Get("redirect_url"), "https://pay.example/psp/payabl/pay/") {
		t.Fatalf("redirect_url %q ignores public_url", reply.Get("redirect_url"))
	}
	// The raw reply carries redirect_url percent-encoded, as payabl. does.
	if !strings.Contains(string(body), "redirect_url=https%3A%2F%2Fpay.example%2Fpsp%2Fpayabl%2Fpay%2F") {
		t.Fatalf("redirect_url not URL-encoded in %q", body)
	}
}
