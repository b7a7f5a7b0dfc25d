package payabl

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Issue 10, item 2: the security covers transactionid+type+errorcode+
// timestamp concatenated without separators. For each genuine notification
// below, every other way of cutting the same signed string into four fields
// carries the same security; only the genuine cut may verify. On the old
// parser (strconv.Atoi, any timestamp) "0"+"1660132694" re-cut as
// "01"+"660132694" verified and turned a processing payment into
// payment.failed, a payout into payout.failed (reversed) and a refund into
// refund.failed.
func TestRecutNotificationsRefused(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	genuine := []struct {
		tx, typ, code, ts, state, event string
	}{
		{"104579097", "capture", "0", "1660132694", "not_credited_yet", "payment.processing"},
		{"104579097", "capture", "2000", "1660132694", "", "payment.processing"},
		{"105159142", "cft", "0", "1660132700", "", "payout.succeeded"},
		{"105159150", "refund", "0", "1660132701", "", "refund.succeeded"},
		{"105159151", "refund", "2000", "1660132702", "", "refund.pending"},
		{"105159152", "capture", "-5003", "1660132703", "not_credited", "payment.failed"},
		{"10", "chb", "0", "1000000000", "", "payment.disputed"},
	}
	for _, g := range genuine {
		form := func(tx, typ, code, ts string) string {
			f := url.Values{"transactionid": {tx}, "type": {typ}, "errorcode": {code}, "timestamp": {ts},
				"security": {notificationSecurity(g.tx, g.typ, g.code, g.ts, "b185")}}
			if g.state != "" {
				f.Set("payment_state", g.state)
			}
			return f.Encode()
		}
		n, err := p.VerifyNotification(incoming(form(g.tx, g.typ, g.code, g.ts)))
		if err != nil || n.EventType != g.event {
			t.Fatalf("genuine %v: %+v %v", g, n, err)
		}
		s := g.tx + g.typ + g.code + g.ts
		tried := 0
		for i := 0; i <= len(s); i++ {
			for j := i; j <= len(s); j++ {
				for k := j; k <= len(s); k++ {
					tx, typ, code, ts := s[:i], s[i:j], s[j:k], s[k:]
					if tx == g.tx && typ == g.typ && code == g.code && ts == g.ts {
						continue
					}
					tried++
					if n, err := p.VerifyNotification(incoming(form(tx, typ, code, ts))); !errors.Is(err, providers.ErrUnauthenticated) {
						t.Errorf("re-cut %q|%q|%q|%q of %v verified: %+v", tx, typ, code, ts, g, n)
					}
				}
			}
		}
		if tried < 100 {
			t.Fatalf("only %d re-cuts tried", tried)
		}
	}
}

// The issue's three reproduced re-cuts, by name.
func TestRecutExamplesFromIssue(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	for name, c := range map[string]struct{ genuine, recut [4]string }{
		"processing→failed":        {[4]string{"104579097", "capture", "0", "1660132694"}, [4]string{"104579097", "capture", "01", "660132694"}},
		"payout succeeded→failed":  {[4]string{"105159142", "cft", "0", "1660132694"}, [4]string{"105159142", "cft", "01", "660132694"}},
		"refund succeeded→failed":  {[4]string{"105159150", "refund", "0", "1660132694"}, [4]string{"105159150", "refund", "01", "660132694"}},
		"timestamp into errorcode": {[4]string{"105159150", "refund", "2000", "1660132694"}, [4]string{"105159150", "refund", "20001", "660132694"}},
		"plus sign":                {[4]string{"105159150", "refund", "0", "1660132694"}, [4]string{"105159150", "refund", "+0", "1660132694"}},
	} {
		g, r := c.genuine, c.recut
		sec := notificationSecurity(g[0], g[1], g[2], g[3], "b185")
		switch {
		case name == "plus sign":
			// Even signed for exactly these fields, '+0' is not canonical.
			sec = notificationSecurity(r[0], r[1], r[2], r[3], "b185")
		case r[0]+r[1]+r[2]+r[3] != g[0]+g[1]+g[2]+g[3]:
			t.Fatalf("%s: not a re-cut", name)
		}
		body := url.Values{"transactionid": {r[0]}, "type": {r[1]}, "errorcode": {r[2]}, "timestamp": {r[3]}, "security": {sec}}.Encode()
		if _, err := p.VerifyNotification(incoming(body)); !errors.Is(err, providers.ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
}

// The grammars, one by one (docs/providers/payabl.md lists them).
func TestSignedFieldGrammars(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "2000": true, "-5003": true, "-6209": true, "101": true, "-1": true, "1234567890": true, "-1234567890": true,
		"": false, "01": false, "+0": false, "-0": false, "00": false, " 0": false, "0 ": false, "-": false, "--1": false,
		"1e3": false, "0x1": false, "-05003": false, "12345678901": false, "２": false,
	} {
		if canonicalCode(s) != want {
			t.Errorf("errorcode %q: canonical = %v", s, !want)
		}
		if _, ok := parseCode(s); ok != want {
			t.Errorf("parseCode(%q) ok = %v", s, ok)
		}
	}
	for s, want := range map[string]bool{
		"1": true, "104579097": true, strings.Repeat("9", 50): true,
		"": false, "0": false, "0104579097": false, "+1": false, "-1": false, strings.Repeat("9", 51): false, "1a": false,
	} {
		if validTxID(s) != want {
			t.Errorf("transactionid %q: valid = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{
		"1660132694": true, "1000000000": true, "9999999999": true,
		"660132694": false, "01660132694": false, "0660132694": false, "16601326940": false, "+660132694": false, "": false, "166013269a": false,
	} {
		if canonicalTimestamp(s) != want {
			t.Errorf("timestamp %q: canonical = %v", s, !want)
		}
	}
	for _, typ := range []string{"capture", "refund", "cft", "chb", "retrieval_request", "pending", "failed"} {
		if !knownTypes[typ] {
			t.Errorf("type %q unknown", typ)
		}
	}
	for _, typ := range []string{"Capture", "CAPTURE", "capture ", "mystery", "", "preauth", "capture0"} {
		if knownTypes[typ] {
			t.Errorf("type %q known", typ)
		}
	}
	// A signed notification whose fields are not canonical is refused even
	// when its security is right for them.
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	for _, f := range [][4]string{
		{"0104579097", "capture", "0", "1660132694"},
		{"104579097", "Capture", "0", "1660132694"},
		{"104579097", "mystery", "0", "1660132694"},
		{"104579097", "capture", "00", "1660132694"},
		{"104579097", "capture", "-0", "1660132694"},
		{"104579097", "capture", "0", "166013269"},
		{"104579097", "capture", "0", "16601326940"},
	} {
		body := url.Values{"transactionid": {f[0]}, "type": {f[1]}, "errorcode": {f[2]}, "timestamp": {f[3]},
			"security": {notificationSecurity(f[0], f[1], f[2], f[3], "b185")}}.Encode()
		if _, err := p.VerifyNotification(incoming(body)); !errors.Is(err, providers.ErrUnauthenticated) {
			t.Errorf("%v: err = %v", f, err)
		}
	}
}

// Issue 10, item 5: At is the signed timestamp, MaxAge payabl's documented
// retry window (every 2 hours, for 3 days).
func TestNotificationTimeAndWindow(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	n, err := p.VerifyNotification(incoming(readNote(t, "seed_accepted_capture_additional.txt")))
	if err != nil {
		t.Fatal(err)
	}
	if !n.At.Equal(time.Unix(1660132694, 0)) || n.MaxAge != 72*time.Hour || n.Trust.Time != providers.SignedFields {
		t.Fatalf("at %v max_age %v trust %v", n.At, n.MaxAge, n.Trust.Time)
	}
	if !n.Fresh(n.At.Add(71*time.Hour)) || n.Fresh(n.At.Add(73*time.Hour)) {
		t.Fatal("window not applied")
	}
	// The unverifiable (40-hex) notification states no time.
	cft, err := p.VerifyNotification(incoming(readNote(t, "seed_failed_cft.txt")))
	if err != nil {
		t.Fatal(err)
	}
	if !cft.At.IsZero() || cft.MaxAge != 0 || cft.EventKey != "" {
		t.Fatalf("cft at %v max_age %v key %q", cft.At, cft.MaxAge, cft.EventKey)
	}
}

// Issue 10, item 6: `secret <current> [<old>…]`: the first signs requests,
// all verify notifications; each resolves {env.*}; the legacy single JSON
// `secret` is still read.
func TestSecretRotation(t *testing.T) {
	t.Setenv("PAYABL_T_NEW", "new-secret")
	t.Setenv("PAYABL_T_OLD", "old-secret")
	d := caddyfile.NewTestDispenser(`payabl {
		merchant_id gateway_test
		secret {env.PAYABL_T_NEW} {env.PAYABL_T_OLD}
		endpoint https://sandbox.payabl.com/pay/backoffice
	}`)
	var p Provider
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(&p)
	if !strings.Contains(string(b), `"secrets":["{env.PAYABL_T_NEW}","{env.PAYABL_T_OLD}"]`) || strings.Contains(string(b), "new-secret") {
		t.Fatalf("json = %s", b)
	}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(&p)
	if strings.Contains(string(b), "new-secret") || strings.Contains(string(b), "old-secret") {
		t.Fatalf("resolved secret in JSON: %s", b)
	}
	for _, secret := range []string{"new-secret", "old-secret"} {
		body := url.Values{"transactionid": {"104579097"}, "type": {"capture"}, "errorcode": {"2000"}, "timestamp": {"1660132694"},
			"security": {notificationSecurity("104579097", "capture", "2000", "1660132694", secret)}}.Encode()
		if _, err := p.VerifyNotification(incoming(body)); err != nil {
			t.Errorf("signed with %s: %v", secret, err)
		}
	}
	body := url.Values{"transactionid": {"104579097"}, "type": {"capture"}, "errorcode": {"2000"}, "timestamp": {"1660132694"},
		"security": {notificationSecurity("104579097", "capture", "2000", "1660132694", "other")}}.Encode()
	if _, err := p.VerifyNotification(incoming(body)); !errors.Is(err, providers.ErrUnauthenticated) {
		t.Errorf("signed with another secret: %v", err)
	}
	// Requests are signed with the first secret only.
	req, err := p.newRequest(context.Background(), opDiagnose, url.Values{"type": {"tx"}, "transactionid": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(req.Body)
	sent, _ := url.ParseQuery(string(raw))
	params := url.Values{}
	for k, v := range sent {
		if k != "signature" {
			params[k] = v
		}
	}
	if sent.Get("signature") != signature(params, "new-secret") {
		t.Fatal("request not signed with the first secret")
	}

	// Old JSON with a single "secret" still loads; giving both is refused;
	// an empty placeholder names its position, not its value.
	var legacy Provider
	if err := json.Unmarshal([]byte(`{"merchant_id":"m","secret":"{env.PAYABL_T_OLD}","endpoint":"https://sandbox.payabl.com/pay/backoffice"}`), &legacy); err != nil {
		t.Fatal(err)
	}
	if err := legacy.Provision(caddyCtx(t)); err != nil || legacy.Validate() != nil || legacy.secret != "old-secret" || len(legacy.secrets) != 1 {
		t.Fatalf("legacy: %v %+v", err, legacy.secrets)
	}
	both := Provider{MerchantID: "m", Secret: "a", Secrets: []string{"b"}, Endpoint: "https://x/pay/backoffice"}
	if err := both.Provision(caddyCtx(t)); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("both: %v", err)
	}
	unset := Provider{MerchantID: "m", Secrets: []string{"a", "{env.PAYABL_T_UNSET}"}, Endpoint: "https://x/pay/backoffice"}
	if err := unset.Provision(caddyCtx(t)); err == nil || !strings.Contains(err.Error(), "secret #2") {
		t.Fatalf("unset: %v", err)
	}
	if err := (&Provider{}).UnmarshalCaddyfile(caddyfile.NewTestDispenser("payabl {\n secret a\n secret b\n}")); err == nil {
		t.Fatal("secret twice accepted")
	}
}

// Issue 10, item 9: the customer countries are the seed's sixteen (AUT,
// BEL, CZE, DEU, DNK, EST, ESP, FIN, GBR, LTU, LVA, NLD, NOR, POL, SWE,
// SVK), distinct from the twelve pay-in countries; customer.country is
// checked against them; `countries` and `currencies` override.
func TestCustomerCountries(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	c := p.Capabilities()
	seed := []string{"AUT", "BEL", "CZE", "DEU", "DNK", "EST", "ESP", "FIN", "GBR", "LTU", "LVA", "NLD", "NOR", "POL", "SWE", "SVK"}
	if len(c.Countries) != len(seed) {
		t.Fatalf("countries = %v", c.Countries)
	}
	for _, a3 := range seed {
		found := false
		for _, a2 := range c.Countries {
			if got, _ := providers.Alpha3(a2); got == a3 {
				found = true
			}
		}
		if !found {
			t.Errorf("%s missing from %v", a3, c.Countries)
		}
	}
	if len(PayinCountries) != 12 || contains(PayinCountries, "BE") {
		t.Errorf("pay-in countries = %v", PayinCountries)
	}
	for _, cc := range []string{"BE", "CZ", "PL", "SK", "SE"} {
		req := productExample()
		req.Customer.Country = cc
		if err := p.ValidatePayment(req); err != nil {
			t.Errorf("%s: %v", cc, err)
		}
	}
	req := productExample()
	req.Customer.Country = "CY" // the seed's request example uses CYP, which its own list does not accept
	canonical(t, p.ValidatePayment(req), providers.TypeInvalidRequest, "customer.country")

	var q Provider
	if err := q.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`payabl {
		merchant_id gateway_test
		secret not-the-demo-secret
		endpoint https://sandbox.payabl.com/pay/backoffice
		countries se fi
		currencies SEK
	}`)); err != nil {
		t.Fatal(err)
	}
	if err := q.Provision(caddyCtx(t)); err != nil || q.Validate() != nil {
		t.Fatal(err)
	}
	qc := q.Capabilities()
	if strings.Join(qc.Countries, ",") != "SE,FI" || strings.Join(qc.Currencies, ",") != "SEK" {
		t.Fatalf("overridden caps = %v %v", qc.Countries, qc.Currencies)
	}
	req = productExample()
	req.Customer.Country = "DE"
	canonical(t, q.ValidatePayment(req), providers.TypeInvalidRequest, "customer.country")
	bad := Provider{MerchantID: "m", Secret: "s", Endpoint: "https://x/pay/backoffice", Overrides: providers.Overrides{Countries: []string{"XX"}}}
	if err := bad.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "countries") {
		t.Fatalf("bad override: %v", err)
	}
}

// scriptedServer answers each backoffice operation with a fixed reply and
// records the requests.
type scriptedServer struct {
	srv   *httptest.Server
	reply map[string]string // op → body (XML or form)
	got   []url.Values
	ops   []string
}

func newScripted(t *testing.T, reply map[string]string) *scriptedServer {
	t.Helper()
	s := &scriptedServer{reply: reply}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		v, _ := url.ParseQuery(string(b))
		op := strings.TrimPrefix(r.URL.Path, "/pay/backoffice/")
		key := op
		if t := v.Get("type"); op == "tx_diagnose" {
			key = op + ":" + t
		}
		s.got = append(s.got, v)
		s.ops = append(s.ops, key)
		body, ok := s.reply[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

const diagTxTemplate = `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><error_message/><status>0</status></process>` +
	`<transaction><amount>19.99</amount><creation_date>21.11.2026 09:00:00</creation_date><currency>EUR</currency><error_code>CODE</error_code>` +
	`<order_id>ORD-1</order_id><type>capture</type><transaction_id>104579097</transaction_id></transaction></response>`

// Issue 10, item 2 (chargebacks): GetPayment sets Dispute only when payabl's
// chargeback report lists one on the transaction; the report is asked for
// only when a chargeback is possible (error_code 0).
func TestGetPaymentChargeback(t *testing.T) {
	// The report's documented row shape (reference §3.7).
	chb := `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><error_message/><process_time>22.11.2026 10:00:00</process_time><status>0</status></process>` +
		`<transaction><amount>19.99</amount><booking_date>22.11.2026</booking_date><currency>EUR</currency><issue_date>20.11.2026</issue_date>` +
		`<order_id>ORD-1</order_id><transaction_id> 104579097</transaction_id></transaction>` +
		`<transaction><amount>5.00</amount><booking_date>22.11.2026</booking_date><currency>EUR</currency><issue_date>20.11.2026</issue_date>` +
		`<order_id>ORD-2</order_id><transaction_id>104579098</transaction_id></transaction></response>`
	none := `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><error_message>Found wrong or missing fields: no transaction matches</error_message><status>-6000</status></process></response>`

	s := newScripted(t, map[string]string{"tx_diagnose:tx": strings.Replace(diagTxTemplate, "CODE", "0", 1), "tx_diagnose:chb": chb})
	p := testProvider(t, s.srv.URL+"/pay/backoffice")
	pay, err := p.GetPayment(context.Background(), &providers.HTTPDoer{}, "104579097")
	if err != nil {
		t.Fatal(err)
	}
	if pay.Dispute != "chb_104579097_20261122" || pay.Status != providers.StatusProcessing || pay.Confirms != providers.StatusSucceeded {
		t.Fatalf("payment = %+v", pay)
	}
	q := s.got[1]
	if q.Get("type") != "chb" || q.Get("start_date") != "21.11.2026" || q.Get("end_date") != "22.11.2026" || len(q.Get("signature")) != 40 {
		t.Fatalf("chb query = %v", q)
	}

	s2 := newScripted(t, map[string]string{"tx_diagnose:tx": strings.Replace(diagTxTemplate, "CODE", "0", 1), "tx_diagnose:chb": none})
	p2 := testProvider(t, s2.srv.URL+"/pay/backoffice")
	if pay, err := p2.GetPayment(context.Background(), &providers.HTTPDoer{}, "104579097"); err != nil || pay.Dispute != "" {
		t.Fatalf("no chargeback: %+v %v", pay, err)
	}

	for _, code := range []string{"2000", "-5003"} {
		s3 := newScripted(t, map[string]string{"tx_diagnose:tx": strings.Replace(diagTxTemplate, "CODE", code, 1), "tx_diagnose:chb": chb})
		p3 := testProvider(t, s3.srv.URL+"/pay/backoffice")
		if pay, err := p3.GetPayment(context.Background(), &providers.HTTPDoer{}, "104579097"); err != nil || pay.Dispute != "" || len(s3.ops) != 1 {
			t.Fatalf("code %s: %+v %v %v", code, pay, err, s3.ops)
		}
	}

	// A report that fails leaves the dispute unknown and the payment
	// readable (a report outage must not block payments); one payabl
	// refuses for this account cannot tell either: no dispute.
	s4 := newScripted(t, map[string]string{"tx_diagnose:tx": strings.Replace(diagTxTemplate, "CODE", "0", 1),
		"tx_diagnose:chb": `<response><process><error_message>Internal error</error_message><status>-5000</status></process></response>`})
	p4 := testProvider(t, s4.srv.URL+"/pay/backoffice")
	if pay, err := p4.GetPayment(context.Background(), &providers.HTTPDoer{}, "104579097"); err != nil || pay.Dispute != "" {
		t.Fatalf("a failed chargeback report: %+v %v", pay, err)
	}
	s5 := newScripted(t, map[string]string{"tx_diagnose:tx": strings.Replace(diagTxTemplate, "CODE", "0", 1),
		"tx_diagnose:chb": `<response><process><error_message>No permission</error_message><status>-119</status></process></response>`})
	p5 := testProvider(t, s5.srv.URL+"/pay/backoffice")
	if pay, err := p5.GetPayment(context.Background(), &providers.HTTPDoer{}, "104579097"); err != nil || pay.Dispute != "" {
		t.Fatalf("no permission: %+v %v", pay, err)
	}
}

// Issue 10, item 7: send_notification, with the documented reply as a
// golden fixture (reference §3.8).
func TestResendNotification(t *testing.T) {
	var _ interface {
		ResendNotification(ctx context.Context, do providers.Doer, ref string) error
	} = (*Provider)(nil)

	doc, err := os.ReadFile("testdata/send_notification.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := newScripted(t, map[string]string{"send_notification": string(doc)})
	p := testProvider(t, s.srv.URL+"/pay/backoffice")
	if err := p.ResendNotification(context.Background(), &providers.HTTPDoer{}, "104837645"); err != nil {
		t.Fatal(err)
	}
	q := s.got[0]
	if s.ops[0] != "send_notification" || q.Get("transactionid") != "104837645" || q.Get("merchantid") != "gateway_test" || len(q) != 3 {
		t.Fatalf("request = %s %v", s.ops[0], q)
	}
	params := url.Values{"transactionid": {"104837645"}, "merchantid": {"gateway_test"}}
	if q.Get("signature") != signature(params, "b185") {
		t.Fatal("request signature")
	}
	// The reply must be about this transaction.
	if err := p.ResendNotification(context.Background(), &providers.HTTPDoer{}, "104837646"); err == nil {
		t.Fatal("reply about another transaction accepted")
	}
	canonical(t, p.ResendNotification(context.Background(), &providers.HTTPDoer{}, "0123"), providers.TypeNotFound, "")

	for body, typ := range map[string]string{
		`<response><process><error_message>Found wrong or missing fields: no transaction matches</error_message><status>-6000</status></process></response>`: providers.TypeNotFound,
		`<response><process><error_message>Unknown error</error_message><status>-999</status></process></response>`:                                          providers.TypeProviderError,
		`<response><process><error_message/><status>0</status></process><transaction><notification_status><transaction_id_1><error_code>-1</error_code><error_message>failed</error_message><notification_sent>FAILED</notification_sent><transaction_id>104837645</transaction_id></transaction_id_1></notification_status></transaction></response>`: providers.TypeProviderError,
		`oops`: providers.TypeProviderError,
	} {
		s := newScripted(t, map[string]string{"send_notification": body})
		p := testProvider(t, s.srv.URL+"/pay/backoffice")
		canonical(t, p.ResendNotification(context.Background(), &providers.HTTPDoer{}, "104837645"), typ, "")
	}
}

// Issue 10, item 10: a 5xx or unreadable reply to a refund or a payout is
// an unknown outcome: request_sent "unknown", not retryable, and the
// merchant is told to look the object up first.
func TestMoneyMovingUnknownOutcome(t *testing.T) {
	refund := &providers.RefundRequest{PaymentProviderRef: "104579097", Amount: 500, Currency: "EUR", PaymentAmount: 1999, Reference: "RF-1"}
	payout := &providers.CreatePayout{Reference: "PO-1", Amount: 999, Currency: "EUR", PaymentProviderRef: "104579097"}
	check := func(name string, err error) {
		t.Helper()
		e := canonical(t, err, providers.TypeProviderError, "")
		if e.RequestSent != providers.SentUnknown || e.Retryable || !strings.Contains(e.Message, "look the") {
			t.Errorf("%s: %+v", name, e)
		}
	}
	for _, status := range []int{500, 503} {
		srv := newStatusServer(t, status)
		p := testProvider(t, srv.URL+"/pay/backoffice")
		_, err := p.Refund(context.Background(), &providers.HTTPDoer{}, refund)
		check("refund 5xx", err)
		_, err = p.CreatePayout(context.Background(), &providers.HTTPDoer{}, payout)
		check("payout 5xx", err)
	}
	s := newScripted(t, map[string]string{"payment_refund": "<html>oops", "payment_cft": "status=abc", "payment_preauthorize": "%zz"})
	p := testProvider(t, s.srv.URL+"/pay/backoffice")
	_, err := p.Refund(context.Background(), &providers.HTTPDoer{}, refund)
	check("refund garbage", err)
	_, err = p.CreatePayout(context.Background(), &providers.HTTPDoer{}, payout)
	check("payout garbage", err)
	_, err = p.CreatePayment(context.Background(), &providers.HTTPDoer{}, productExample())
	check("create garbage", err)
	// A reply payabl did read (a decline) keeps its own outcome.
	s2 := newScripted(t, map[string]string{"payment_refund": "status=-5007&errormessage=Refund+aborted"})
	p2 := testProvider(t, s2.srv.URL+"/pay/backoffice")
	_, err = p2.Refund(context.Background(), &providers.HTTPDoer{}, refund)
	if e := canonical(t, err, providers.TypeProviderDeclined, ""); e.RequestSent != providers.SentYes {
		t.Errorf("decline: %+v", e)
	}
}

// The request signature has the same class of problem (docs/providers/payabl.md):
// values are concatenated in name order without separators, so a payout to
// a Swedish account (account number 1–15 digits) can be re-cut into a
// larger amount to a shorter account number under the same signature. The
// scheme is payabl's; the gateway's defence is that a signed request never
// crosses a network in clear (https endpoint unless loopback), and it never
// logs request bodies.
func TestRequestSignatureRecutIsPayablsScheme(t *testing.T) {
	a := url.Values{"accountnumber": {"9123456789"}, "amount": {"9.99"}, "banknumber": {"8327"}, "bankcountry": {"SE"}, "currency": {"EUR"}, "merchantid": {"m"}}
	b := url.Values{"accountnumber": {"912345678"}, "amount": {"99.99"}, "banknumber": {"8327"}, "bankcountry": {"SE"}, "currency": {"EUR"}, "merchantid": {"m"}}
	if signature(a, "b185") != signature(b, "b185") {
		t.Fatal("expected payabl's scheme to be ambiguous here")
	}
	for ep, ok := range map[string]bool{
		"http://127.0.0.1:9/pay/backoffice": true, "http://localhost:9/pay/backoffice": true, "http://[::1]:9/pay/backoffice": true,
		"https://sandbox.payabl.com/pay/backoffice": true, "http://sandbox.payabl.com/pay/backoffice": false, "http://10.0.0.1/pay/backoffice": false,
	} {
		p := &Provider{MerchantID: "m", Secret: "s", Endpoint: ep}
		if err := p.Provision(caddyCtx(t)); err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); (err == nil) != ok {
			t.Errorf("%s: %v", ep, err)
		}
	}
}

// Every secret of a rotation list is checked against the published demo
// secrets (providers.CheckDemoSecret), not only the first.
func TestDemoSecretAnyPosition(t *testing.T) {
	p := &Provider{MerchantID: "m", Secrets: []string{"own-secret", "b185"}, Endpoint: "https://payabl.example/pay/backoffice"}
	if err := p.Provision(caddyCtx(t)); err == nil || !strings.Contains(err.Error(), "secret #2") {
		t.Fatalf("err = %v", err)
	}
	q := &Provider{MerchantID: "m", Secrets: []string{"own-secret", "b185"}, Endpoint: "http://127.0.0.1:9/pay/backoffice"}
	if err := q.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
}
