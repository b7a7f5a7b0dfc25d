package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// psCheckout opens form.action like a browser and returns the page URL
// and its form token.
func psCheckout(t *testing.T, tx map[string]any) (string, string) {
	t.Helper()
	page := psFormAction(t, tx)
	status, body := getPage(t, page)
	if status != http.StatusOK {
		t.Fatalf("checkout page HTTP %d", status)
	}
	for _, want := range []string{"SANDBOX — no real money", "PaySage", "Trustly", ">Approve<", ">Decline<"} {
		if !strings.Contains(body, want) {
			t.Errorf("checkout page lacks %q", want)
		}
	}
	if strings.Contains(body, psTestSecret) {
		t.Fatal("checkout page contains the secret")
	}
	m := formTokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no form token on the page")
	}
	return page, m[1]
}

func TestPaysageApproveFlow(t *testing.T) {
	rc := newPsReceiver(t)
	srv := psSandbox(t)
	tx := psCreate(t, srv, 1999, "ORD-1001", rc.srv.URL+"/notifications/paysage")
	uid := tx["uid"].(string)
	if tx["tracking_id"] != "ORD-1001" || tx["amount"] != float64(1999) || tx["test"] != true {
		t.Fatalf("created %v", tx)
	}
	rc.none(t, 50*time.Millisecond) // nothing is sent for the creation itself

	page, token := psCheckout(t, tx)
	if status, body := getPage(t, page); status != http.StatusOK || !strings.Contains(body, "19.99 EUR") || !strings.Contains(body, "ORD-1001") {
		t.Fatalf("checkout page does not show amount and order: %d", status)
	}
	if resp := clickButton(t, page, "0000", "approve"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong form token: HTTP %d, want 403", resp.StatusCode)
	}
	resp := clickButton(t, page, token, "approve")
	wantLoc := "https://shop.example/return?cart=42&uid=" + uid + "&status=successful"
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != wantLoc {
		t.Fatalf("approve: HTTP %d Location %q, want 303 %s", resp.StatusCode, resp.Header.Get("Location"), wantLoc)
	}

	h := rc.next(t)
	psVerify(t, h, PaysagePublicKey(), "361", psTestSecret)
	wt := h.txn(t)
	if wt["uid"] != uid || wt["status"] != "successful" || wt["message"] != "Successfully processed" || wt["tracking_id"] != "ORD-1001" ||
		wt["payment"].(map[string]any)["status"] != "successful" || wt["version"] != float64(1) || wt["form"] != nil {
		t.Fatalf("webhook transaction %s", h.raw)
	}
	rc.none(t, 100*time.Millisecond)

	// The webhook body is what GET answers now.
	got := psDo(t, http.MethodGet, psAPI(srv)+"/"+uid, "", nil)
	if got.status != http.StatusOK || string(got.raw) != string(h.raw) {
		t.Fatalf("GET after approve:\n%s\nwebhook:\n%s", got.raw, h.raw)
	}
	// A second click is refused; the page says it is decided.
	if resp := clickButton(t, page, token, "decline"); resp.StatusCode != http.StatusConflict {
		t.Fatalf("second decision: HTTP %d, want 409", resp.StatusCode)
	}
	if status, body := getPage(t, page); status != http.StatusOK || strings.Contains(body, ">Approve<") {
		t.Fatal("decided payment still shows the buttons")
	}
	// receipt_url is a read-only page; a wrong hash is unknown.
	receipt := wt["receipt_url"].(string)
	if status, body := getPage(t, receipt); status != http.StatusOK || !strings.Contains(body, "Approved") || strings.Contains(body, ">Approve<") {
		t.Fatalf("receipt HTTP %d", status)
	}
	if status, _ := getPage(t, strings.Replace(receipt, "/"+uid+"/", "/"+uid+"/00", 1)); status != http.StatusNotFound {
		t.Fatalf("forged receipt hash: HTTP %d", status)
	}

	eventually(t, "a recorded, acknowledged delivery", func() bool {
		v := psFind(t, srv, uid)
		return len(v.Webhooks) == 1 && v.Webhooks[0].Acknowledged
	})
	v := psFind(t, srv, uid)
	d := v.Webhooks[0]
	if d.HTTPStatus != 200 || d.Status != "successful" || d.URL != rc.srv.URL+"/notifications/paysage" || d.ContentSignature != h.header.Get("Content-Signature") {
		t.Fatalf("delivery %+v", d)
	}
	listing, _ := json.Marshal(psListing(t, srv))
	if strings.Contains(string(listing), psTestSecret) {
		t.Fatal("listing contains the secret")
	}
}

func TestPaysageDeclineAndExpire(t *testing.T) {
	rc := newPsReceiver(t)
	rc.status = http.StatusInternalServerError
	srv := psSandbox(t)

	tx := psCreate(t, srv, 500, "ORD-D", rc.srv.URL+"/notifications/test")
	page, token := psCheckout(t, tx)
	resp := clickButton(t, page, token, "decline")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "&status=failed") {
		t.Fatalf("decline: HTTP %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	h := rc.next(t)
	psVerify(t, h, PaysagePublicKey(), "361", psTestSecret)
	if wt := h.txn(t); wt["status"] != "failed" || wt["message"] != "Payment was declined." {
		t.Fatalf("decline webhook %s", h.raw)
	}
	uid := tx["uid"].(string)
	eventually(t, "a recorded, refused delivery", func() bool {
		v := psFind(t, srv, uid)
		return len(v.Webhooks) == 1 && v.Webhooks[0].HTTPStatus == 500
	})
	if v := psFind(t, srv, uid); v.Webhooks[0].Acknowledged {
		t.Fatal("HTTP 500 counted as acknowledged")
	}

	// Sandbox-only actions: expire, notify (re-send), and their errors.
	rc.mu.Lock()
	rc.status = http.StatusOK
	rc.mu.Unlock()
	tx2 := psCreate(t, srv, 700, "ORD-E", rc.srv.URL+"/notifications/test")
	uid2 := tx2["uid"].(string)
	if s := psAction(t, srv, uid2, "expire"); s != http.StatusOK {
		t.Fatalf("expire: HTTP %d", s)
	}
	if wt := rc.next(t).txn(t); wt["uid"] != uid2 || wt["status"] != "expired" {
		t.Fatalf("expire webhook %v", wt)
	}
	if s := psAction(t, srv, uid2, "approve"); s != http.StatusConflict {
		t.Fatalf("approve after expire: HTTP %d, want 409", s)
	}
	if s := psAction(t, srv, uid2, "notify"); s != http.StatusOK {
		t.Fatalf("notify: HTTP %d", s)
	}
	if wt := rc.next(t).txn(t); wt["uid"] != uid2 || wt["status"] != "expired" {
		t.Fatalf("re-sent webhook %v", wt)
	}
	for action, want := range map[string]int{"nope/approve": 404, uid2 + "/capture": 404} {
		resp, _ := http.Post(srv.URL+"/sandbox/paysage/_sandbox/payments/"+action, "", nil)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: HTTP %d, want %d", action, resp.StatusCode, want)
		}
	}
	if status, _ := getPage(t, srv.URL+"/sandbox/paysage/_sandbox/payments/"+uid2+"/approve"); status != http.StatusMethodNotAllowed {
		t.Errorf("GET on an action: HTTP %d", status)
	}
}

func TestPaysageExpiredAt(t *testing.T) {
	rc := newPsReceiver(t)
	srv := psSandbox(t)
	body := psMutate(func(r, c, m map[string]any) {
		r["notification_url"] = rc.srv.URL + "/notifications/test"
		r["expired_at"] = time.Now().Add(1500 * time.Millisecond).Format(time.RFC3339)
	})
	tx := psDo(t, http.MethodPost, psAPI(srv)+"/payments", body, nil).txn(t)
	select {
	case h := <-rc.ch:
		if wt := h.txn(t); wt["uid"] != tx["uid"] || wt["status"] != "expired" {
			t.Fatalf("webhook %s", h.raw)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("no expired webhook after expired_at")
	}
	if status, _ := getPage(t, psFormAction(t, tx)); status != http.StatusOK {
		t.Fatal("checkout page of an expired payment")
	}
}

func TestPaysageNoNotificationURL(t *testing.T) {
	srv := psSandbox(t)
	tx := psCreate(t, srv, 500, "ORD-N", "")
	uid := tx["uid"].(string)
	if s := psAction(t, srv, uid, "approve"); s != http.StatusOK {
		t.Fatalf("approve: HTTP %d", s)
	}
	eventually(t, "a recorded non-delivery", func() bool {
		v := psFind(t, srv, uid)
		return len(v.Webhooks) == 1 && strings.Contains(v.Webhooks[0].Error, "no notification_url")
	})
}

func TestPaysageRefunds(t *testing.T) {
	rc := newPsReceiver(t)
	srv := psSandbox(t)
	tx := psCreate(t, srv, 1000, "ORD-R", rc.srv.URL+"/notifications/test")
	uid := tx["uid"].(string)
	refund := func(body string, hdr map[string]string) psReply {
		return psDo(t, http.MethodPost, psAPI(srv)+"/refunds", body, hdr)
	}
	rb := func(amount int64) string {
		return `{"request":{"parent_uid":"` + uid + `","amount":` + jsonInt(amount) + `,"reason":"customer request"}}`
	}
	notRefundable := `{"message":"transaction can't be refunded","errors":{"base":["transaction can't be refunded"]}}`

	// A pending payment cannot be refunded.
	if r := refund(rb(100), nil); r.status != 422 || string(r.raw) != notRefundable {
		t.Fatalf("refund of a pending payment: HTTP %d %s", r.status, r.raw)
	}
	if s := psAction(t, srv, uid, "approve"); s != http.StatusOK {
		t.Fatal("approve failed")
	}
	rc.next(t)

	r1 := refund(rb(300), nil).txn(t)
	if r1["type"] != "refund" || r1["status"] != "successful" || r1["parent_uid"] != uid || r1["amount"] != float64(300) ||
		r1["currency"] != "EUR" || r1["tracking_id"] != nil || r1["test"] != true || r1["refund"].(map[string]any)["status"] != "successful" ||
		!psUIDRE.MatchString(r1["uid"].(string)) || r1["uid"] == uid {
		t.Fatalf("refund 1 %v", r1)
	}
	r2 := refund(`{"request":{"parent_uid":"`+uid+`","amount":600,"reason":"r","tracking_id":"RF-2"}}`, nil).txn(t)
	if r2["amount"] != float64(600) || r2["tracking_id"] != "RF-2" {
		t.Fatalf("refund 2 %v", r2)
	}
	// 100 left: 101 is refused with a field error naming the limit.
	over := refund(rb(101), nil)
	if over.status != 422 || string(over.raw) != `{"message":"Unprocessable entity","errors":{"request":{"amount":["must be less than or equal to 100"]}}}` {
		t.Fatalf("over-refund: HTTP %d %s", over.status, over.raw)
	}
	// An omitted amount refunds the rest; then nothing is left.
	r3 := refund(`{"request":{"parent_uid":"`+uid+`","reason":"rest"}}`, nil).txn(t)
	if r3["amount"] != float64(100) {
		t.Fatalf("refund of the rest %v", r3)
	}
	if r := refund(rb(1), nil); r.status != 422 || string(r.raw) != notRefundable {
		t.Fatalf("refund of a fully refunded payment: HTTP %d %s", r.status, r.raw)
	}
	// A refund is not refundable, an unknown parent is a field error, and
	// the reason is required.
	if r := refund(`{"request":{"parent_uid":"`+r1["uid"].(string)+`","amount":1,"reason":"x"}}`, nil); r.status != 422 || string(r.raw) != notRefundable {
		t.Fatalf("refund of a refund: HTTP %d %s", r.status, r.raw)
	}
	if r := refund(`{"request":{"parent_uid":"nope","amount":1,"reason":"x"}}`, nil); r.status != 422 ||
		string(r.raw) != `{"message":"Unprocessable entity","errors":{"request":{"parent_uid":["is invalid"]}}}` {
		t.Fatalf("unknown parent: HTTP %d %s", r.status, r.raw)
	}
	if r := refund(`{"request":{"parent_uid":"`+uid+`","amount":0,"currency":"EUR"}}`, nil); r.status != 422 ||
		string(r.raw) != `{"message":"Unprocessable entity","errors":{"request":{"amount":["must be greater than 0"],"currency":["is not allowed"],"reason":["is missing"]}}}` {
		t.Fatalf("bad refund request: HTTP %d %s", r.status, r.raw)
	}
	rc.none(t, 100*time.Millisecond) // refunds are final in the reply: no webhook

	// GET and tracking_id lookups see the refunds; the listing sums them.
	if g := psDo(t, http.MethodGet, psAPI(srv)+"/"+r2["uid"].(string), "", nil).txn(t); g["type"] != "refund" || g["amount"] != float64(600) {
		t.Fatalf("GET refund %v", g)
	}
	look := psDo(t, http.MethodGet, psAPI(srv)+"/tracking_id/RF-2", "", nil)
	var lv struct {
		Transactions []map[string]any `json:"transactions"`
	}
	if err := json.Unmarshal(look.raw, &lv); err != nil || len(lv.Transactions) != 1 || lv.Transactions[0]["uid"] != r2["uid"] {
		t.Fatalf("lookup RF-2: %s", look.raw)
	}
	if v := psFind(t, srv, uid); v.Refunded != 1000 || v.Status != "successful" {
		t.Fatalf("parent after refunds %+v", v)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestPaysageTrackingLookup(t *testing.T) {
	srv := psSandbox(t)
	a := psCreate(t, srv, 500, "ORD-T", "")
	b := psCreate(t, srv, 600, "ORD-T", "")
	psCreate(t, srv, 700, "ORD-OTHER", "")
	look := psDo(t, http.MethodGet, psAPI(srv)+"/tracking_id/ORD-T", "", nil)
	var lv struct {
		Transactions []map[string]any `json:"transactions"`
	}
	if err := json.Unmarshal(look.raw, &lv); err != nil || look.status != 200 || len(lv.Transactions) != 2 ||
		lv.Transactions[0]["uid"] != a["uid"] || lv.Transactions[1]["uid"] != b["uid"] {
		t.Fatalf("lookup ORD-T (oldest first): HTTP %d %s", look.status, look.raw)
	}
	empty := psDo(t, http.MethodGet, psAPI(srv)+"/tracking_id/none", "", nil)
	if empty.status != 200 || string(empty.raw) != `{"transactions":[]}` {
		t.Fatalf("unknown tracking_id: HTTP %d %s", empty.status, empty.raw)
	}
	// At most the 10 most recent matches.
	for range 11 {
		psCreate(t, srv, 800, "ORD-MANY", "")
	}
	many := psDo(t, http.MethodGet, psAPI(srv)+"/tracking_id/ORD-MANY", "", nil)
	if err := json.Unmarshal(many.raw, &lv); err != nil || len(lv.Transactions) != 10 {
		t.Fatalf("lookup ORD-MANY: %d transactions", len(lv.Transactions))
	}
}

func TestPaysageRequestIDIdempotency(t *testing.T) {
	srv := psSandbox(t)
	hdr := map[string]string{"RequestID": "9f6c3f7e-6d1b-4f5e-9a57-1c2d3e4f5a6b"}
	body := psPaymentBody(500, "ORD-I", "")
	first := psDo(t, http.MethodPost, psAPI(srv)+"/payments", body, hdr)
	second := psDo(t, http.MethodPost, psAPI(srv)+"/payments", body, hdr)
	if first.status != 200 || string(first.raw) != string(second.raw) {
		t.Fatalf("same RequestID, same body: replies differ\n%s\n%s", first.raw, second.raw)
	}
	// Every attempt with the RequestID is the same request, even with
	// another body (beGateway: only the first attempt is processed).
	other := psDo(t, http.MethodPost, psAPI(srv)+"/payments", psPaymentBody(900, "ORD-J", ""), hdr)
	if string(other.raw) != string(first.raw) {
		t.Fatalf("same RequestID, other body: %s", other.raw)
	}
	// Without it, or with another one, a new payment is made.
	third := psDo(t, http.MethodPost, psAPI(srv)+"/payments", body, nil).txn(t)
	fourth := psDo(t, http.MethodPost, psAPI(srv)+"/payments", body, map[string]string{"RequestID": "other"}).txn(t)
	uid := first.txn(t)["uid"]
	if third["uid"] == uid || fourth["uid"] == uid || len(psListing(t, srv)) != 3 {
		t.Fatal("a new RequestID did not create a new payment")
	}
	// The replay shows the current status.
	if s := psAction(t, srv, uid.(string), "approve"); s != 200 {
		t.Fatal("approve failed")
	}
	if replay := psDo(t, http.MethodPost, psAPI(srv)+"/payments", body, hdr).txn(t); replay["uid"] != uid || replay["status"] != "successful" {
		t.Fatalf("replay after approve %v", replay)
	}
	// A refused request is not remembered: fixing it with the same
	// RequestID goes through.
	h2 := map[string]string{"RequestID": "fix-me"}
	if r := psDo(t, http.MethodPost, psAPI(srv)+"/payments", strings.Replace(body, `"EUR"`, `"USD"`, 1), h2); r.status != 422 {
		t.Fatalf("USD: HTTP %d", r.status)
	}
	if r := psDo(t, http.MethodPost, psAPI(srv)+"/payments", body, h2); r.status != 200 {
		t.Fatalf("fixed request with the same RequestID: HTTP %d %s", r.status, r.raw)
	}

	// Refunds: the same RequestID refunds once.
	rb := `{"request":{"parent_uid":"` + uid.(string) + `","amount":200,"reason":"r"}}`
	rh := map[string]string{"RequestID": "refund-1"}
	ra := psDo(t, http.MethodPost, psAPI(srv)+"/refunds", rb, rh)
	rb2 := psDo(t, http.MethodPost, psAPI(srv)+"/refunds", rb, rh)
	if ra.status != 200 || string(ra.raw) != string(rb2.raw) {
		t.Fatalf("refund replay differs:\n%s\n%s", ra.raw, rb2.raw)
	}
	if v := psFind(t, srv, uid.(string)); v.Refunded != 200 {
		t.Fatalf("refunded %d after a replayed refund, want 200", v.Refunded)
	}
	// The key space is per operation: the payment's RequestID on refunds is new.
	if r := psDo(t, http.MethodPost, psAPI(srv)+"/refunds", rb, hdr).txn(t); r["type"] != "refund" {
		t.Fatalf("payment RequestID reused on refunds: %v", r)
	}
}

func TestPaysageOwnPrivateKey(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shop.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	wantPub := base64.StdEncoding.EncodeToString(der)

	rc := newPsReceiver(t)
	srv, _ := sandboxServer(t, &Handler{Paysage: &PaysageConfig{ShopID: "4242", SecretKey: psTestSecret, PrivateKeyFile: path}})
	if status, body := getPage(t, srv.URL+"/sandbox/paysage/_sandbox/public_key"); status != 200 || body != wantPub {
		t.Fatalf("public_key endpoint does not serve the configured key: %d", status)
	}
	r := psDoAuth(t, http.MethodPost, psAPI(srv)+"/payments", psPaymentBody(500, "K", rc.srv.URL+"/notifications/test"), "4242", psTestSecret, nil)
	uid := r.txn(t)["uid"].(string)
	if s := psAction(t, srv, uid, "approve"); s != 200 {
		t.Fatal("approve failed")
	}
	h := rc.next(t)
	psVerify(t, h, wantPub, "4242", psTestSecret)
	// The default test key must not verify it: the key really changed.
	if err := psCheckSignature(h.raw, h.header.Get("Content-Signature"), PaysagePublicKey()); err == nil {
		t.Fatal("webhook verifies with the embedded test key too")
	}
	// A tampered body does not verify.
	if err := psCheckSignature(append([]byte(" "), h.raw...), h.header.Get("Content-Signature"), wantPub); err == nil {
		t.Fatal("signature verifies over a different body")
	}
}

func TestPaysageRouting(t *testing.T) {
	srv, _ := sandboxServer(t, &Handler{Prefix: "/psp", PublicURL: "https://pay.example/psp", Paysage: &PaysageConfig{SecretKey: psTestSecret}})
	for path, want := range map[string]int{
		"/psp/paysage":                           http.StatusNotFound,
		"/psp/paysage/":                          http.StatusNotFound,
		"/psp/paysage/checkout/abc":              http.StatusNotFound,
		"/psp/paysage/checkout/":                 http.StatusNotFound,
		"/psp/paysage/customer/transactions/x/y": http.StatusNotFound,
		"/psp/paysage/_sandbox/payments":         http.StatusOK,
		"/psp/paysage/_sandbox/public_key":       http.StatusOK,
	} {
		status, _ := getPage(t, srv.URL+path)
		if status != want {
			t.Errorf("%s: HTTP %d, want %d", path, status, want)
		}
	}
	// public_url decides form.action and receipt_url.
	r := psDo(t, http.MethodPost, srv.URL+"/psp/paysage/beyag/transactions/payments", psPaymentBody(500, "P", ""), nil)
	tx := r.txn(t)
	if a := psFormAction(t, tx); !strings.HasPrefix(a, "https://pay.example/psp/paysage/checkout/") {
		t.Fatalf("form.action %q ignores public_url", a)
	}
	if !strings.HasPrefix(tx["receipt_url"].(string), "https://pay.example/psp/paysage/customer/transactions/") {
		t.Fatalf("receipt_url %q", tx["receipt_url"])
	}
	// The page itself is still served under the local prefix.
	local := strings.Replace(psFormAction(t, tx), "https://pay.example", srv.URL, 1)
	if status, _ := getPage(t, local); status != http.StatusOK {
		t.Fatalf("checkout under the prefix: HTTP %d", status)
	}
}
