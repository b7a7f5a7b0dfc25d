package payabl

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

func incoming(body string) *providers.IncomingNotification {
	return &providers.IncomingNotification{Method: "POST", Body: []byte(body)}
}

func readNote(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "notifications", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Reference §2.1: the docs' worked example reproduces.
func TestNotificationSecurityDocsExample(t *testing.T) {
	const want = "1f67d79aa5e2a4070b2091837fefae84cd15f08370de0cee4bf9ea75951e047b"
	if got := notificationSecurity("118656640", "capture", "0", "1610018172", "goodsecret"); got != want {
		t.Fatalf("security = %s", got)
	}
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	p.secret, p.secrets = "goodsecret", []string{"goodsecret"}
	n, err := p.VerifyNotification(incoming("transactionid=118656640&type=capture&errorcode=0&timestamp=1610018172&amount=1.69&currency=EUR&orderid=o-1&security=" + want))
	if err != nil {
		t.Fatal(err)
	}
	if n.Trust.Object == providers.Unsigned || n.EventType != "payment.succeeded" || n.Trust.Status != providers.Unsigned || n.Amount != 169 || n.Currency != "EUR" ||
		n.Trust.Amount != providers.Unsigned || n.EventKey != "118656640|capture|0|1610018172" || n.ProviderRef != "118656640" || n.Reference != "o-1" {
		t.Fatalf("notification = %+v", n)
	}
	// Upper-case hex is the same digest.
	if _, err := p.VerifyNotification(incoming("transactionid=118656640&type=capture&errorcode=0&timestamp=1610018172&security=" + strings.ToUpper(want))); err != nil {
		t.Fatalf("upper-case security: %v", err)
	}
}

// The seed's notification examples, checked with the public sandbox
// secret b185. The two "additional parameters" examples (transactionid
// 104579097) verify. The two plain examples carry the same security
// values but transactionid 104579096: their security was computed for
// 104579097, so they do not verify and are rejected like any forgery. The
// failed-payout example has a 40-hex security (undocumented scheme, and no
// timestamp): it is accepted only as Untrusted.
func TestSeedNotifications(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")

	for _, name := range []string{"seed_accepted_capture.txt", "seed_successful_capture.txt"} {
		_, err := p.VerifyNotification(incoming(readNote(t, name)))
		if !errors.Is(err, providers.ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}

	acc, err := p.VerifyNotification(incoming(readNote(t, "seed_accepted_capture_additional.txt")))
	if err != nil {
		t.Fatalf("accepted (additional): %v", err)
	}
	if acc.Object != "payment" || acc.EventType != "payment.processing" || acc.Status != "processing" || acc.Trust.Status != providers.SignedFields ||
		acc.EventKey != "104579097|capture|0|1660132694" || acc.Amount != 0 || acc.Currency != "" {
		t.Errorf("accepted = %+v", acc)
	}
	accEvent := eventOf(t, acc.ProviderEvent)
	if accEvent["transactionid"] != "104579097" || accEvent["timestamp"] != "1660132694" {
		t.Errorf("signed fields not at the top of provider_event: %s", acc.ProviderEvent)
	}
	if _, ok := accEvent["payment_state"]; ok {
		t.Error("an unsigned field stands beside the signed ones in provider_event")
	}
	ev, _ := accEvent["unsigned"].(map[string]any)
	if ev["account_number"] != "****0279" || ev["bank_number"] != "****" || ev["account_holder"] != "Erik Lindström" ||
		ev["payment_state"] != "not_credited_yet" || ev["bank_name"] != "Nordea" {
		t.Errorf("provider_event = %v", ev)
	}
	if _, ok := accEvent["security"]; ok || ev["security"] != nil {
		t.Error("security leaked into provider_event")
	}

	suc, err := p.VerifyNotification(incoming(readNote(t, "seed_successful_capture_additional.txt")))
	if err != nil {
		t.Fatalf("successful (additional): %v", err)
	}
	if suc.EventType != "payment.succeeded" || suc.Status != "succeeded" || suc.Trust.Status != providers.Unsigned || suc.Trust.Object == providers.Unsigned ||
		suc.EventKey != "104579097|capture|0|1660132695" || suc.ProviderMessage != "" {
		t.Errorf("successful = %+v", suc)
	}
	if suc.EventKey == acc.EventKey {
		t.Error("two notifications share an event key")
	}

	cft, err := p.VerifyNotification(incoming(readNote(t, "seed_failed_cft.txt")))
	if err != nil {
		t.Fatalf("failed cft: %v", err)
	}
	if cft.Trust.Object != providers.Unsigned || cft.Trust.Status != providers.Unsigned || cft.Object != "payout" || cft.ProviderRef != "105159138" ||
		cft.EventType != "payout.failed" || cft.ProviderStatus != "-6209" || cft.ProviderMessage != "MID is near to negative balance" {
		t.Errorf("cft = %+v", cft)
	}
}

// sign builds a verified notification body for p's secret.
func sign(p *Provider, fields url.Values) string {
	fields.Set("security", notificationSecurity(fields.Get("transactionid"), fields.Get("type"), fields.Get("errorcode"), fields.Get("timestamp"), p.secret))
	return fields.Encode()
}

func TestNotificationMapping(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	cases := []struct {
		typ, code, state string
		object, event    string
		status           string
		confirm          bool
	}{
		{"capture", "0", "not_credited_yet", "payment", "payment.processing", "processing", false},
		{"capture", "0", "credited", "payment", "payment.succeeded", "succeeded", true},
		{"capture", "0", "not_credited", "payment", "payment.failed", "failed", true},
		{"capture", "0", "something_new", "payment", "payment.processing", "processing", true},
		{"capture", "0", "", "payment", "payment.succeeded", "succeeded", true},
		{"capture", "-5003", "not_credited", "payment", "payment.failed", "failed", false},
		{"capture", "2000", "", "payment", "payment.processing", "processing", false},
		{"chb", "0", "", "payment", "payment.disputed", "", false},
		{"refund", "0", "", "refund", "refund.succeeded", "succeeded", false},
		{"refund", "-5007", "", "refund", "refund.failed", "failed", false},
		{"refund", "2000", "", "refund", "refund.pending", "pending", false},
		{"cft", "0", "", "payout", "payout.succeeded", "succeeded", false},
		{"cft", "-6209", "", "payout", "payout.failed", "failed", false},
		{"retrieval_request", "0", "", "", "", "", false},
		{"pending", "0", "", "", "", "", false},
	}
	for _, c := range cases {
		f := url.Values{"transactionid": {"42"}, "type": {c.typ}, "errorcode": {c.code}, "timestamp": {"1700000000"},
			"amount": {"19.99"}, "currency": {"SEK"}, "orderid": {"ORD-1"}}
		if c.state != "" {
			f.Set("payment_state", c.state)
		}
		n, err := p.VerifyNotification(incoming(sign(p, f)))
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if n.Object != c.object || n.EventType != c.event || n.Status != c.status || (n.Trust.Status == providers.Unsigned) != c.confirm {
			t.Errorf("%s/%s/%s: got object=%q event=%q status=%q confirm=%v", c.typ, c.code, c.state, n.Object, n.EventType, n.Status, n.Trust.Status == providers.Unsigned)
		}
		if n.EventType != "" && !providers.ValidEventType(n.EventType) {
			t.Errorf("event type %q is not canonical", n.EventType)
		}
		if n.Amount != 1999 || n.Currency != "SEK" || n.Trust.Amount != providers.Unsigned || n.Trust.Object == providers.Unsigned {
			t.Errorf("%s: amount %d %s signed=%v", c.typ, n.Amount, n.Currency, n.Trust.Amount != providers.Unsigned)
		}
	}
}

func TestNotificationRejections(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	good := url.Values{"transactionid": {"42"}, "type": {"capture"}, "errorcode": {"0"}, "timestamp": {"1700000000"}}
	body := sign(p, good)
	if _, err := p.VerifyNotification(incoming(body)); err != nil {
		t.Fatalf("good: %v", err)
	}
	parsed, _ := url.ParseQuery(body)
	mutate := func(f func(v url.Values)) string {
		v := url.Values{}
		for k, vs := range parsed {
			v[k] = append([]string(nil), vs...)
		}
		f(v)
		return v.Encode()
	}
	bad := map[string]string{
		"errorcode changed":   mutate(func(v url.Values) { v.Set("errorcode", "-1") }),
		"type changed":        mutate(func(v url.Values) { v.Set("type", "refund") }),
		"timestamp changed":   mutate(func(v url.Values) { v.Set("timestamp", "1700000001") }),
		"txid changed":        mutate(func(v url.Values) { v.Set("transactionid", "43") }),
		"no security":         mutate(func(v url.Values) { v.Del("security") }),
		"no timestamp":        mutate(func(v url.Values) { v.Del("timestamp") }),
		"no errorcode":        mutate(func(v url.Values) { v.Del("errorcode") }),
		"short security":      mutate(func(v url.Values) { v.Set("security", "abc") }),
		"non-hex security":    mutate(func(v url.Values) { v.Set("security", strings.Repeat("z", 64)) }),
		"repeated errorcode":  mutate(func(v url.Values) { v.Add("errorcode", "-5003") }),
		"repeated security":   mutate(func(v url.Values) { v.Add("security", v.Get("security")) }),
		"wrong secret":        sign(&Provider{secret: "other"}, url.Values{"transactionid": {"42"}, "type": {"capture"}, "errorcode": {"0"}, "timestamp": {"1"}}),
		"not a form":          "%zz",
		"empty":               "",
		"40-hex without txid": "type=cft&errorcode=-1&security=" + strings.Repeat("a", 40),
	}
	for name, b := range bad {
		if _, err := p.VerifyNotification(incoming(b)); !errors.Is(err, providers.ErrUnauthenticated) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := p.VerifyNotification(nil); !errors.Is(err, providers.ErrUnauthenticated) {
		t.Errorf("nil: %v", err)
	}
	// Unsigned fields may change without breaking verification, but they
	// never change what is claimed as signed.
	n, err := p.VerifyNotification(incoming(mutate(func(v url.Values) { v.Set("amount", "999.00"); v.Set("currency", "EUR") })))
	if err != nil || n.Trust.Amount != providers.Unsigned {
		t.Fatalf("unsigned amount: %+v %v", n, err)
	}
	// Error messages never carry the secret.
	_, err = p.VerifyNotification(incoming(mutate(func(v url.Values) { v.Set("errorcode", "-1") })))
	if strings.Contains(err.Error(), "b185") {
		t.Fatal("secret in error")
	}
}

func TestProviderEventMasking(t *testing.T) {
	ev := eventOf(t, providerEvent(url.Values{"iban": {"SE45 5000 0000 0583 9825 7466"}, "accountnumber": {"12345678"},
		"banknumber": {"8327"}, "security": {"x"}, "signature": {"y"}, "cardholder": {"J\xf6rg"}, "multi": {"a", "b"}}))
	if _, ok := ev["security"]; ok {
		t.Fatal("security kept")
	}
	ev, _ = ev["unsigned"].(map[string]any)
	if ev["iban"] != "****7466" || ev["accountnumber"] != "****5678" || ev["banknumber"] != "****" || ev["cardholder"] != "Jörg" {
		t.Fatalf("event = %v", ev)
	}
	if _, ok := ev["security"]; ok {
		t.Fatal("security kept")
	}
	if _, ok := ev["signature"]; ok {
		t.Fatal("signature kept")
	}
	if m, ok := ev["multi"].([]any); !ok || len(m) != 2 {
		t.Fatalf("multi = %v", ev["multi"])
	}
}

func TestAcknowledge(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	w := httptest.NewRecorder()
	if err := p.Acknowledge(w); err != nil {
		t.Fatal(err)
	}
	if w.Code != 200 || w.Body.String() != "OK" {
		t.Fatalf("ack = %d %q", w.Code, w.Body.String())
	}
}

// The event key is built from signed fields only: changing the unsigned
// payment_state (or amount) of a genuine notification cannot mint a new key.
func TestEventKeySignedFieldsOnly(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	key := func(extra url.Values) string {
		f := url.Values{"transactionid": {"9"}, "type": {"capture"}, "errorcode": {"0"}, "timestamp": {"1700000005"}}
		for k, v := range extra {
			f[k] = v
		}
		n, err := p.VerifyNotification(incoming(sign(p, f)))
		if err != nil {
			t.Fatal(err)
		}
		return n.EventKey
	}
	base := key(nil)
	if base != "9|capture|0|1700000005" {
		t.Fatalf("key = %q", base)
	}
	for _, extra := range []url.Values{{"payment_state": {"credited"}}, {"payment_state": {"not_credited_yet"}}, {"amount": {"1.00"}}} {
		if k := key(extra); k != base {
			t.Fatalf("unsigned field changed the key: %q", k)
		}
	}
	if key(url.Values{"timestamp": {"1700000006"}}) == base {
		t.Fatal("a different signed timestamp must give a different key")
	}
}
