package razorpay

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// signed builds the webhook request Razorpay sends for body.
func signed(body []byte, secret, eventID string) *providers.IncomingNotification {
	return &providers.IncomingNotification{Method: "POST", Body: body, Header: http.Header{
		"Content-Type":         {"application/json"},
		"X-Razorpay-Signature": {sign(body, secret)},
		"X-Razorpay-Event-Id":  {eventID},
	}}
}

// Documented payloads (§9.4, §9.5) → canonical notifications.
func TestVerifyNotificationDocumented(t *testing.T) {
	p := testProvider(t, "http://127.0.0.1:1")
	cases := []struct {
		file                        string
		object, ref, payRef, evType string
		status                      string
		amount                      int64
		currency, pstatus, pmessage string
		confirm                     bool
	}{
		{"payment_captured.json", "payment", "order_DESlLckIVRkHWj", "", "payment.succeeded", "succeeded", 100, "INR", "captured", "", false},
		{"payment_failed.json", "payment", "order_DESlLckIVRkHWj", "", "payment.failed", "failed", 100, "INR", "failed", "Payment failed", true},
		{"refund_processed.json", "refund", "rfnd_FS8TWyPrCsa0OB", "order_FPoIeimWki9j8A", "refund.succeeded", "succeeded", 50000, "INR", "processed", "", false},
		{"refund_failed.json", "refund", "rfnd_FS8TWyPrCsa0OB", "order_FPoIeimWki9j8A", "refund.failed", "failed", 50000, "INR", "failed", "", false},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			body := fixture(t, "webhooks/"+c.file)
			n, err := p.VerifyNotification(signed(body, testWebhook, "evt_1"))
			if err != nil {
				t.Fatal(err)
			}
			if n.Object != c.object || n.ProviderRef != c.ref || n.PaymentRef != c.payRef || n.EventType != c.evType ||
				n.Status != c.status || n.Amount != c.amount || n.Currency != c.currency || n.Trust.Amount == providers.Unsigned ||
				n.ProviderStatus != c.pstatus || n.ProviderMessage != c.pmessage || (n.Trust.Status == providers.Unsigned) != c.confirm || n.Trust.Object == providers.Unsigned {
				t.Fatalf("notification = %+v", n)
			}
			// The key is a hash of the signed body only: the unsigned
			// X-Razorpay-Event-Id header takes no part in it.
			if strings.Contains(n.EventKey, "evt_1") || len(n.EventKey) != 32 {
				t.Fatalf("event key = %q", n.EventKey)
			}
			raw, _ := json.Marshal(n.ProviderEvent)
			if !strings.Contains(string(raw), `"account_id"`) || strings.Contains(string(raw), sign(body, testWebhook)) {
				t.Fatalf("provider event = %s", raw)
			}
			// Integers stay integers (json.Number), never floats.
			if strings.Contains(string(raw), "e+") {
				t.Fatalf("amount turned into a float: %s", raw)
			}
		})
	}
}

// order.paid, authorized, and events with no canonical counterpart.
func TestVerifyNotificationOtherEvents(t *testing.T) {
	p := testProvider(t, "http://127.0.0.1:1")
	pay := `{"id":"pay_A1","entity":"payment","amount":1999,"currency":"EUR","status":"captured","order_id":"order_O1","created_at":1}`
	orderPaid := `{"entity":"event","account_id":"acc_X","event":"order.paid","contains":["payment","order"],"payload":{"payment":{"entity":` + pay +
		`},"order":{"entity":{"id":"order_O1","entity":"order","amount":1999,"amount_paid":1999,"amount_due":0,"currency":"EUR","receipt":"ORD-9","status":"paid","attempts":1,"notes":[],"created_at":1}}},"created_at":2}`
	n, err := p.VerifyNotification(signed([]byte(orderPaid), testWebhook, "e2"))
	if err != nil || n.EventType != "payment.succeeded" || n.ProviderRef != "order_O1" || n.Reference != "ORD-9" || n.Amount != 1999 {
		t.Fatalf("order.paid: %+v, %v", n, err)
	}
	auth := `{"entity":"event","account_id":"acc_X","event":"payment.authorized","contains":["payment"],"payload":{"payment":{"entity":` +
		strings.Replace(pay, "captured", "authorized", 1) + `}},"created_at":2}`
	n, err = p.VerifyNotification(signed([]byte(auth), testWebhook, "e3"))
	if err != nil || n.EventType != "payment.authorized" || n.Status != "authorized" || n.Trust.Status == providers.Unsigned {
		t.Fatalf("payment.authorized: %+v, %v", n, err)
	}
	for _, ev := range []string{"refund.speed_changed", "payment.downtime.started", "order.notification.delivered"} {
		body := `{"entity":"event","account_id":"acc_X","event":"` + ev + `","contains":["refund","payment"],"payload":{"payment":{"entity":` + pay + `}},"created_at":2}`
		n, err := p.VerifyNotification(signed([]byte(body), testWebhook, "e4"))
		if err != nil || n.EventType != "" || n.EventKey == "" {
			t.Fatalf("%s: %+v, %v", ev, n, err)
		}
	}
}

// Every configured secret verifies (rotation); anything else is
// ErrUnauthenticated before the body is read.
func TestVerifyNotificationSignatures(t *testing.T) {
	p := testProvider(t, "http://127.0.0.1:1")
	body := fixture(t, "webhooks/payment_captured.json")
	if _, err := p.VerifyNotification(signed(body, testWebhookV0, "e")); err != nil {
		t.Fatalf("previous secret refused: %v", err)
	}
	upper := signed(body, testWebhook, "e")
	upper.Header.Set("X-Razorpay-Signature", strings.ToUpper(upper.Header.Get("X-Razorpay-Signature")))
	if _, err := p.VerifyNotification(upper); err != nil {
		t.Fatalf("upper-case hex refused: %v", err)
	}
	bad := map[string]*providers.IncomingNotification{
		"other secret":   signed(body, "not-configured", "e"),
		"key secret":     signed(body, testKeySecret, "e"),
		"tampered body":  {Method: "POST", Header: signed(body, testWebhook, "e").Header, Body: []byte(strings.Replace(string(body), `"amount": 100`, `"amount": 900`, 1))},
		"unsigned":       {Method: "POST", Header: http.Header{"X-Razorpay-Event-Id": {"e"}}, Body: body},
		"empty":          {Method: "POST", Header: http.Header{}},
		"nil":            nil,
		"truncated sig":  {Method: "POST", Header: http.Header{"X-Razorpay-Signature": {sign(body, testWebhook)[:63]}}, Body: body},
		"two signatures": {Method: "POST", Header: http.Header{"X-Razorpay-Signature": {sign(body, "x"), sign(body, testWebhook)}}, Body: body},
	}
	for name, in := range bad {
		n, err := p.VerifyNotification(in)
		if !errors.Is(err, providers.ErrUnauthenticated) || n != nil {
			t.Errorf("%s: got (%v, %v)", name, n, err)
		}
	}
	// Signed but not an event: an error, not ErrUnauthenticated.
	n, err := p.VerifyNotification(signed([]byte(`{"hello":1}`), testWebhook, "e"))
	if err == nil || errors.Is(err, providers.ErrUnauthenticated) || n != nil {
		t.Fatalf("signed garbage: (%v, %v)", n, err)
	}
}

// The same event retried gives the same key; a different body (same
// header id) does not.
func TestEventKey(t *testing.T) {
	p := testProvider(t, "http://127.0.0.1:1")
	a := fixture(t, "webhooks/payment_captured.json")
	b := fixture(t, "webhooks/payment_failed.json")
	n1, _ := p.VerifyNotification(signed(a, testWebhook, "evt_X"))
	n2, _ := p.VerifyNotification(signed(a, testWebhookV0, "evt_X"))
	n3, _ := p.VerifyNotification(signed(b, testWebhook, "evt_X"))
	if n1.EventKey != n2.EventKey || n1.EventKey == n3.EventKey {
		t.Fatalf("keys %q %q %q", n1.EventKey, n2.EventKey, n3.EventKey)
	}
}

func TestProviderEventMasksAccounts(t *testing.T) {
	m := providerEvent([]byte(`{"payload":{"payment":{"entity":{"bank_account":{"account_number":"1234567890","ifsc":"HDFC0000001"}}}}}`))
	raw, _ := json.Marshal(m)
	if strings.Contains(string(raw), "1234567890") || !strings.Contains(string(raw), "****7890") {
		t.Fatalf("%s", raw)
	}
}

func TestAcknowledge(t *testing.T) {
	w := httptest.NewRecorder()
	if err := (&Provider{}).Acknowledge(w); err != nil || w.Code != 200 {
		t.Fatalf("ack = %d, %v", w.Code, err)
	}
}

// A captured genuine webhook re-sent with a new (or without an)
// X-Razorpay-Event-Id header is the same event: the key comes from the
// signed body alone (issue 10, item 5).
func TestEventKeyIgnoresEventIDHeader(t *testing.T) {
	p := testProvider(t, "http://127.0.0.1:1")
	body := fixture(t, "webhooks/payment_captured.json")
	first, err := p.VerifyNotification(signed(body, testWebhook, "evt_Original000001"))
	if err != nil {
		t.Fatal(err)
	}
	resent := signed(body, testWebhook, "evt_Replayed000002")
	again, err := p.VerifyNotification(resent)
	if err != nil {
		t.Fatal(err)
	}
	resent.Header.Del("X-Razorpay-Event-Id")
	bare, err := p.VerifyNotification(resent)
	if err != nil {
		t.Fatal(err)
	}
	if first.EventKey == "" || again.EventKey != first.EventKey || bare.EventKey != first.EventKey {
		t.Fatalf("keys %q, %q, %q: a new X-Razorpay-Event-Id made a new event", first.EventKey, again.EventKey, bare.EventKey)
	}
}

// At is the signed created_at of the event, MaxAge Razorpay's 24-hour
// retry window: a replay older than that is not fresh (the host then acts
// only on a fetch). A body without a valid created_at is never fresh.
func TestNotificationTime(t *testing.T) {
	p := testProvider(t, "http://127.0.0.1:1")
	n, err := p.VerifyNotification(signed(fixture(t, "webhooks/payment_captured.json"), testWebhook, "e"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1567674606, 0).UTC()
	if !n.At.Equal(at) || n.MaxAge != 24*time.Hour || n.Trust.Time != providers.SignedBody {
		t.Fatalf("At %v, MaxAge %v, Trust.Time %v", n.At, n.MaxAge, n.Trust.Time)
	}
	if !n.Fresh(at.Add(23*time.Hour)) || n.Fresh(at.Add(25*time.Hour)) {
		t.Fatal("freshness does not follow the 24-hour window")
	}
	for _, created := range []string{``, `,"created_at":0`, `,"created_at":-5`, `,"created_at":999999999999`} {
		body := []byte(`{"entity":"event","account_id":"acc_X","event":"refund.speed_changed","contains":["refund"],"payload":{}` + created + `}`)
		n, err := p.VerifyNotification(signed(body, testWebhook, "e"))
		if err != nil {
			t.Fatal(err)
		}
		if n.Fresh(time.Now()) {
			t.Errorf("created_at %q: a webhook stating no valid time is fresh (At %v)", created, n.At)
		}
	}
}

// With account_id, a correctly signed webhook of another account (two
// accounts sharing a webhook secret) is refused as unauthenticated
// (issue 10, item 6); without it, the account is not checked.
func TestAccountBinding(t *testing.T) {
	own := fixture(t, "webhooks/payment_captured.json")   // acc_BFQ7uQEaa7j2z7
	other := fixture(t, "webhooks/refund_processed.json") // acc_E7OQJcEANmBHTC
	none := []byte(strings.Replace(string(own), `"account_id": "acc_BFQ7uQEaa7j2z7",`, ``, 1))
	if string(none) == string(own) {
		t.Fatal("fixture changed: no account_id to remove")
	}
	bound := testProvider(t, "http://127.0.0.1:1")
	bound.AccountID = "acc_BFQ7uQEaa7j2z7"
	if n, err := bound.VerifyNotification(signed(own, testWebhook, "e")); err != nil || n.EventType != "payment.succeeded" {
		t.Fatalf("own account: %+v, %v", n, err)
	}
	for name, body := range map[string][]byte{"other account": other, "no account": none} {
		n, err := bound.VerifyNotification(signed(body, testWebhook, "e"))
		if !errors.Is(err, providers.ErrUnauthenticated) || n != nil {
			t.Errorf("%s: got (%+v, %v), want ErrUnauthenticated", name, n, err)
		}
	}
	unbound := testProvider(t, "http://127.0.0.1:1")
	for _, body := range [][]byte{own, other, none} {
		if _, err := unbound.VerifyNotification(signed(body, testWebhook, "e")); err != nil {
			t.Errorf("without account_id: %v", err)
		}
	}
}
