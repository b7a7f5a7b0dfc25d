package paysage

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// note builds an incoming webhook: body from testdata/notifications, with
// the committed Content-Signature when signed, and Basic credentials when
// basic is not empty ("user:pass").
func note(t *testing.T, name string, signed bool, basic string) *providers.IncomingNotification {
	t.Helper()
	h := http.Header{}
	if signed {
		h.Set("Content-Signature", strings.TrimSpace(string(readFile(t, "notifications/"+name+".sig"))))
	}
	if basic != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
	}
	h.Set("Content-Type", "application/json")
	return &providers.IncomingNotification{Method: "POST", Header: h, Body: readFile(t, "notifications/"+name+".json")}
}

var goodBasic = testShopID + ":" + testSecret

// The committed signatures are exactly what the fixed TEST-ONLY private key
// makes (PKCS#1 v1.5 is deterministic), and the public key verifies them.
func TestFixedKeySignatures(t *testing.T) {
	k := testPrivateKey(t)
	for _, name := range []string{"payment_successful", "payment_failed", "refund_successful"} {
		body := readFile(t, "notifications/"+name+".json")
		sum := sha256.Sum256(body)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		if base64.StdEncoding.EncodeToString(sig) != strings.TrimSpace(string(readFile(t, "notifications/"+name+".sig"))) {
			t.Errorf("%s: committed signature differs from the test key's", name)
		}
	}
}

func TestSignedPaymentNotification(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	in := note(t, "payment_successful", true, "")
	n, err := p.VerifyNotification(in)
	if err != nil {
		t.Fatal(err)
	}
	if n.Object != "payment" || n.ProviderRef != seedUID || n.Reference != "ORD-1001" || n.EventType != "payment.succeeded" ||
		n.Status != "succeeded" || n.Amount != 500 || n.Currency != "EUR" || n.Trust.Amount == providers.Unsigned || n.Trust.Status == providers.Unsigned || n.Trust.Object == providers.Unsigned ||
		n.ProviderStatus != "successful" || n.ProviderMessage != "Payment was successful." {
		t.Fatalf("%+v", n)
	}
	if !strings.HasPrefix(n.EventKey, seedUID+"|successful|") {
		t.Fatalf("event key %q", n.EventKey)
	}
	golden(t, "notification_payment_successful.golden", indent(t, eventOf(t, n.ProviderEvent)))
	// Numbers stay exact integers, their literal byte for byte.
	tx := eventOf(t, n.ProviderEvent)["transaction"].(map[string]any)
	if tx["amount"] != json.Number("500") || !bytes.Contains(n.ProviderEvent, []byte(`"amount":500,`)) {
		t.Fatalf("amount %#v", tx["amount"])
	}

	// Same bytes: same key; another notification: another key.
	again, _ := p.VerifyNotification(note(t, "payment_successful", true, ""))
	failed, err := p.VerifyNotification(note(t, "payment_failed", true, ""))
	if err != nil {
		t.Fatal(err)
	}
	if again.EventKey != n.EventKey || failed.EventKey == n.EventKey {
		t.Fatal("event keys do not follow the content")
	}
	if failed.EventType != "payment.failed" || failed.Status != "failed" {
		t.Fatalf("%+v", failed)
	}
}

func TestSignedRefundNotification(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	n, err := p.VerifyNotification(note(t, "refund_successful", true, goodBasic))
	if err != nil {
		t.Fatal(err)
	}
	if n.Object != "refund" || n.ProviderRef != "9e1a4c2b-54f7-4a8e-9d0e-3b1f2c6d7e80" || n.PaymentRef != seedUID ||
		n.EventType != "refund.succeeded" || n.Status != "succeeded" || n.Amount != 200 || n.Trust.Status == providers.Unsigned {
		t.Fatalf("%+v", n)
	}
}

// Without a Content-Signature, Basic shop_id:secret_key authenticates the
// sender; the body is unsigned, so every claim must be confirmed.
func TestBasicNotification(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	n, err := p.VerifyNotification(note(t, "payment_successful", false, goodBasic))
	if err != nil {
		t.Fatal(err)
	}
	if n.EventType != "payment.succeeded" || n.Trust.Status != providers.Unsigned || n.Trust.Amount != providers.Unsigned || n.Amount != 500 {
		t.Fatalf("%+v", n)
	}
	// A shop without a public_key ignores a Content-Signature and uses Basic.
	nokey := &Provider{ShopID: testShopID, SecretKey: testSecret}
	if err := nokey.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	bad := note(t, "payment_successful", false, goodBasic)
	bad.Header.Set("Content-Signature", "AAAA")
	if n, err := nokey.VerifyNotification(bad); err != nil || n.Trust.Status != providers.Unsigned {
		t.Fatalf("no public key, Basic ok: %+v %v", n, err)
	}
	if _, err := nokey.VerifyNotification(note(t, "payment_successful", true, "")); !errors.Is(err, providers.ErrUnauthenticated) {
		t.Fatalf("no public key, no Basic: %v", err)
	}
}

func TestRejectedNotifications(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	cases := map[string]func() *providers.IncomingNotification{
		"no credentials at all": func() *providers.IncomingNotification { return note(t, "payment_successful", false, "") },
		"wrong secret": func() *providers.IncomingNotification {
			return note(t, "payment_successful", false, testShopID+":wrong")
		},
		"wrong shop":     func() *providers.IncomingNotification { return note(t, "payment_successful", false, "362:"+testSecret) },
		"secret as user": func() *providers.IncomingNotification { return note(t, "payment_successful", false, testSecret) },
		"bearer scheme": func() *providers.IncomingNotification {
			in := note(t, "payment_successful", false, "")
			in.Header.Set("Authorization", "Bearer "+testSecret)
			return in
		},
		"tampered body, valid signature of the original": func() *providers.IncomingNotification {
			in := note(t, "payment_failed", true, "")
			in.Body = []byte(strings.Replace(string(in.Body), `"status":"failed"`, `"status":"successful"`, 1))
			return in
		},
		"signature of another body": func() *providers.IncomingNotification {
			in := note(t, "payment_successful", false, "")
			in.Header.Set("Content-Signature", strings.TrimSpace(string(readFile(t, "notifications/payment_failed.sig"))))
			return in
		},
		// Present but invalid: never falls back to (valid) Basic.
		"bad signature with valid Basic": func() *providers.IncomingNotification {
			in := note(t, "payment_successful", false, goodBasic)
			in.Header.Set("Content-Signature", "AAAA")
			return in
		},
		"signature not base64 with valid Basic": func() *providers.IncomingNotification {
			in := note(t, "payment_successful", false, goodBasic)
			in.Header.Set("Content-Signature", "not base64!")
			return in
		},
		"empty signature with valid Basic": func() *providers.IncomingNotification {
			in := note(t, "payment_successful", false, goodBasic)
			in.Header["Content-Signature"] = []string{""}
			return in
		},
		"signed by another key": func() *providers.IncomingNotification {
			in := note(t, "payment_successful", false, goodBasic)
			sum := sha256.Sum256(in.Body)
			sig, _ := rsa.SignPKCS1v15(rand.Reader, otherKey, crypto.SHA256, sum[:])
			in.Header.Set("Content-Signature", base64.StdEncoding.EncodeToString(sig))
			return in
		},
		"two signatures": func() *providers.IncomingNotification {
			in := note(t, "payment_successful", true, "")
			in.Header.Add("Content-Signature", "AAAA")
			return in
		},
	}
	for name, mk := range cases {
		n, err := p.VerifyNotification(mk())
		if !errors.Is(err, providers.ErrUnauthenticated) || n != nil {
			t.Errorf("%s: (%v, %v), want ErrUnauthenticated", name, n, err)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: the error holds the secret", name)
		}
	}
}

// Authenticated but unreadable: an error, not ErrUnauthenticated.
func TestAuthenticatedGarbage(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	for _, body := range []string{"", "null", "{}", `{"transaction":[]}`, `{"transaction":{"status":"successful"}}`, `{"transaction":{"uid":"../x","status":"successful"}}`} {
		in := &providers.IncomingNotification{Method: "POST", Header: http.Header{}, Body: []byte(body)}
		in.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(goodBasic)))
		n, err := p.VerifyNotification(in)
		if err == nil || n != nil || errors.Is(err, providers.ErrUnauthenticated) {
			t.Errorf("%q: (%v, %v)", body, n, err)
		}
		canonical(t, err, providers.TypeInvalidRequest, "")
	}
}

func TestProviderEventScrubbed(t *testing.T) {
	body := `{"transaction":{"uid":"u1","status":"successful","amount":1,"currency":"EUR","secret_key":"s3cr3t","bank_account":{"iban":"SE4550000000058398257466","holder":"Jane"},"credit_card":{"number":"4200000000000000","verification_value":"123","token":"tok"}}}`
	ev := providerEvent([]byte(body))
	b, _ := json.Marshal(ev)
	for _, leaked := range []string{"s3cr3t", "SE4550000000058398257466", "4200000000000000", `"123"`, "tok"} {
		if strings.Contains(string(b), leaked) {
			t.Errorf("%s in %s", leaked, b)
		}
	}
	if !strings.Contains(string(b), `"****0000"`) || !strings.Contains(string(b), `"bank_account":"****"`) {
		t.Errorf("masking: %s", b)
	}
}

func TestAcknowledge(t *testing.T) {
	w := httptest.NewRecorder()
	if err := (&Provider{}).Acknowledge(w); err != nil || w.Code != 200 {
		t.Fatalf("%d %v", w.Code, err)
	}
}

func TestNonPaymentTypesHaveNoEvent(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	in := &providers.IncomingNotification{Method: "POST", Header: http.Header{},
		Body: []byte(`{"transaction":{"uid":"u1","type":"payout","status":"successful","amount":1,"currency":"EUR"}}`)}
	in.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(goodBasic)))
	n, err := p.VerifyNotification(in)
	if err != nil || n.Object != "payout" || n.EventType != "" {
		t.Fatalf("%+v %v", n, err)
	}
	// pending is no event (the customer still has to act).
	in.Body = []byte(`{"transaction":{"uid":"u1","type":"payment","status":"pending","amount":1,"currency":"EUR"}}`)
	if n, err := p.VerifyNotification(in); err != nil || n.EventType != "" || n.Status != "requires_action" {
		t.Fatalf("%+v %v", n, err)
	}
}

// Several public keys (issue 10 item 6): a Content-Signature made by the
// old key or the new one verifies, one by neither does not.
func TestSeveralPublicKeys(t *testing.T) {
	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&newKey.PublicKey)
	p := &Provider{ShopID: testShopID, SecretKey: testSecret, Endpoint: "https://api.paysage.io",
		PublicKey: Keys{base64.StdEncoding.EncodeToString(der), testPublicKey(t)}}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	body := readFile(t, "notifications/payment_successful.json")
	sign := func(k *rsa.PrivateKey) string {
		sum := sha256.Sum256(body)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, c := range map[string]struct {
		key *rsa.PrivateKey
		ok  bool
	}{"new key": {newKey, true}, "old key": {testPrivateKey(t), true}, "another key": {stranger, false}} {
		h := http.Header{"Content-Signature": {sign(c.key)}}
		n, err := p.VerifyNotification(&providers.IncomingNotification{Method: "POST", Header: h, Body: body})
		switch {
		case c.ok && (err != nil || n.Trust.Status != providers.SignedBody):
			t.Errorf("%s: %v", name, err)
		case !c.ok && !errors.Is(err, providers.ErrUnauthenticated):
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

// The notification states when its news happened (updated_at, signed with
// the body) and PaySage's retry window (issue 10 item 5).
func TestNotificationTime(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	n, err := p.VerifyNotification(note(t, "payment_successful", true, ""))
	if err != nil {
		t.Fatal(err)
	}
	if !n.At.Equal(time.Date(2025, 4, 7, 9, 52, 10, 0, time.UTC)) || n.MaxAge != 72*time.Hour || n.Trust.Time != providers.SignedBody {
		t.Fatalf("At %v MaxAge %v Time %v", n.At, n.MaxAge, n.Trust.Time)
	}
	if n.Fresh(n.At.Add(71*time.Hour)) != true || n.Fresh(n.At.Add(73*time.Hour)) != false {
		t.Fatal("the window is not applied")
	}
	// Without a signature the time is a claim like any other.
	n, err = p.VerifyNotification(note(t, "payment_successful", false, goodBasic))
	if err != nil || n.Trust.Time != providers.Unsigned || !n.Fresh(n.At.Add(1000*time.Hour)) {
		t.Fatalf("%+v %v", n, err)
	}
	// created_at when there is no updated_at.
	tx := transaction{CreatedAt: "2025-04-07T09:49:22+02:00"}
	if !tx.stated().Equal(time.Date(2025, 4, 7, 7, 49, 22, 0, time.UTC)) {
		t.Fatalf("stated %v", tx.stated())
	}
}
