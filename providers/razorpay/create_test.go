package razorpay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Canonical → the order body (exact JSON) and the launch data, plus the
// transport facts (path, Basic auth, content type). One attempt per order
// (issue 10, item 8): the create makes the order and nothing else, and
// the launch makes the order's single payment attempt.
func TestCreatePaymentWire(t *testing.T) {
	s := newScripted(t, map[string]canned{
		"POST /v1/orders":                   {200, string(fixture(t, "replies/order_created.json")), ""},
		"POST /v1/payments/create/redirect": {200, "<html>Processing, Please Wait…</html>", "text/html"},
	})
	p := testProvider(t, s.srv.URL)
	req := productExample()
	if err := p.ValidatePayment(req); err != nil {
		t.Fatal(err)
	}
	pay, err := p.CreatePayment(context.Background(), doer(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := s.requests()
	if len(got) != 1 || got[0].method != "POST" || got[0].path != "/v1/orders" {
		t.Fatalf("calls = %+v, want only POST /v1/orders (no payment attempt at create)", got)
	}
	golden(t, "order_request.golden.json", got[0].body)
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testKeyID+":"+testKeySecret))
	if got[0].header.Get("Authorization") != wantAuth || got[0].header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", got[0].header)
	}

	// requires_action on the order, with the launch data of its attempt.
	if pay.ProviderReference != "order_RB58MiP5SPFYyM" || pay.Reference != "ORD-1001" || pay.Amount != 1999 ||
		pay.Currency != "EUR" || pay.Status != providers.StatusRequiresAction || pay.ProviderStatus != "order:created" ||
		!pay.Test || pay.Object != "payment" {
		t.Fatalf("payment = %+v", pay)
	}
	if pay.NextAction == nil || pay.NextAction.Type != "poll" || pay.NextAction.URL != "" {
		t.Fatalf("next action = %+v (the host puts the launch URL here)", pay.NextAction)
	}
	golden(t, "payment_request.golden.json", pay.LaunchData)
	if strings.Contains(pay.LaunchData, testKeySecret) || pay.CreatedAt.Unix() != 1756455561 {
		t.Fatalf("launch data / created_at wrong: %+v", pay)
	}

	// The launch is the order's one attempt.
	if _, err := p.Launch(context.Background(), doer(), pay.LaunchData, nil); err != nil {
		t.Fatal(err)
	}
	got = s.requests()
	if len(got) != 2 || got[1].path != "/v1/payments/create/redirect" || !strings.Contains(got[1].body, `"order_id":"order_RB58MiP5SPFYyM"`) {
		t.Fatalf("calls = %+v, want the order then one create/redirect on it", got)
	}
}

// timeoutAfterSend is a Doer whose call reached the provider but got no
// answer in time.
type timeoutAfterSend struct{}

func (timeoutAfterSend) Do(context.Context, *http.Request) (*providers.Reply, error) {
	return nil, &providers.Error{Type: providers.TypeProviderUnreachable, Code: "provider_timeout", Message: "the provider did not answer in time; the outcome is unknown", RequestSent: providers.SentUnknown, Retryable: true, Timeout: true}
}

// notSent is a Doer whose call never left.
type notSent struct{}

func (notSent) Do(context.Context, *http.Request) (*providers.Reply, error) {
	return nil, &providers.Error{Type: providers.TypeProviderUnreachable, Code: "provider_unreachable", Message: "refused", RequestSent: providers.SentNo, Retryable: true}
}

// The order create has no idempotency key (reference §10): an unknown
// outcome (5xx, unreadable, timeout after sending) is request_sent
// unknown, not retryable, and says to look the payment up by reference
// (issue 10, item 10); answers that say nothing happened stay retryable.
func TestCreatePaymentOrderFails(t *testing.T) {
	order := string(fixture(t, "replies/order_created.json"))
	const lookup = "look the payment up by reference"
	cases := map[string]struct {
		reply    canned
		typ      string
		sent     string
		retry    bool
		provCode string
		msg      string
	}{
		"server error": {canned{500, `{"error":{"code":"SERVER_ERROR","description":"We are facing some trouble completing your request at the moment. Please try again shortly.","source":"NA","step":"NA","reason":"NA","metadata":{}}}`, ""},
			providers.TypeProviderError, providers.SentUnknown, false, "SERVER_ERROR", lookup},
		"bad gateway":   {canned{502, "<html>bad gateway</html>", "text/html"}, providers.TypeProviderError, providers.SentUnknown, false, "http_502", lookup},
		"garbage":       {canned{200, "<html>oops", "text/html"}, providers.TypeProviderError, providers.SentUnknown, false, "", lookup},
		"no order id":   {canned{200, `{"entity":"order","amount":1999,"currency":"EUR"}`, ""}, providers.TypeProviderError, providers.SentUnknown, false, "", lookup},
		"other amount":  {canned{200, strings.Replace(order, `"amount":1999`, `"amount":1000`, 1), ""}, providers.TypeProviderError, providers.SentUnknown, false, "", lookup},
		"route missing": {canned{404, `{"message":"no Route matched with those values"}`, ""}, providers.TypeProviderError, providers.SentUnknown, false, "http_404", lookup},
		"rate limited":  {canned{429, `{"error":{"code":"BAD_REQUEST_ERROR","description":"Too many requests","source":"NA","step":"NA","reason":"NA","metadata":{}}}`, ""}, providers.TypeProviderError, providers.SentYes, true, "BAD_REQUEST_ERROR", ""},
		"refused": {canned{400, `{"error":{"code":"BAD_REQUEST_ERROR","description":"The amount must be at least INR 1.00","source":"business","step":"payment_initiation","reason":"input_validation_failed","metadata":{},"field":"amount"}}`, ""},
			providers.TypeInvalidRequest, providers.SentYes, false, "BAD_REQUEST_ERROR", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newScripted(t, map[string]canned{"POST /v1/orders": c.reply})
			_, err := testProvider(t, s.srv.URL).CreatePayment(context.Background(), doer(), productExample())
			e := canonical(t, err, c.typ, "", c.sent)
			if e.Retryable != c.retry {
				t.Errorf("retryable = %v", e.Retryable)
			}
			if c.provCode != "" && (e.ProviderCode == nil || *e.ProviderCode != c.provCode) {
				t.Errorf("provider code = %v", e.ProviderCode)
			}
			if !strings.Contains(e.Message, c.msg) {
				t.Errorf("message %q does not say %q", e.Message, c.msg)
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("%d calls, want the order only", n)
			}
		})
	}
	t.Run("timeout after sending", func(t *testing.T) {
		_, err := testProvider(t, "http://127.0.0.1:1").CreatePayment(context.Background(), timeoutAfterSend{}, productExample())
		e := canonical(t, err, providers.TypeProviderUnreachable, "", providers.SentUnknown)
		if e.Retryable || !e.Timeout || !strings.Contains(e.Message, lookup) {
			t.Errorf("error = %+v", e)
		}
	})
	t.Run("not sent", func(t *testing.T) {
		_, err := testProvider(t, "http://127.0.0.1:1").CreatePayment(context.Background(), notSent{}, productExample())
		if e := canonical(t, err, providers.TypeProviderUnreachable, "", providers.SentNo); !e.Retryable {
			t.Errorf("error = %+v", e)
		}
	})
}

// Limits are checked before anything is sent, naming the field.
func TestValidatePaymentLimits(t *testing.T) {
	p := testProvider(t, "http://127.0.0.1:1")
	cases := map[string]struct {
		mutate func(*providers.CreatePayment)
		field  string
	}{
		"reference 41":  {func(r *providers.CreatePayment) { r.Reference = strings.Repeat("R", 41) }, "reference"},
		"email 41":      {func(r *providers.CreatePayment) { r.Customer.Email = strings.Repeat("a", 29) + "@example.com" }, "customer.email"},
		"email missing": {func(r *providers.CreatePayment) { r.Customer.Email = "" }, "customer.email"},
		"phone 16":      {func(r *providers.CreatePayment) { r.Customer.Phone = "+461234567890123" }, "customer.phone"},
		"phone missing": {func(r *providers.CreatePayment) { r.Customer.Phone = "" }, "customer.phone"},
		"ip missing":    {func(r *providers.CreatePayment) { r.Customer.IP = "" }, "customer.ip"},
		"currency USD":  {func(r *providers.CreatePayment) { r.Currency = "USD" }, "currency"},
		"INR below 1":   {func(r *providers.CreatePayment) { r.Currency, r.Amount = "INR", 99 }, "amount"},
		"country US":    {func(r *providers.CreatePayment) { r.Customer.Country = "US" }, "customer.country"},
		"16 notes": {func(r *providers.CreatePayment) {
			r.Metadata = map[string]string{}
			for i := 0; i < 16; i++ {
				r.Metadata[string(rune('a'+i))] = "v"
			}
		}, "metadata"},
		"note 257": {func(r *providers.CreatePayment) { r.Metadata = map[string]string{"k": strings.Repeat("é", 257)} }, "metadata.k"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			req := productExample()
			c.mutate(req)
			canonical(t, p.ValidatePayment(req), providers.TypeInvalidRequest, c.field, providers.SentNo)
		})
	}
	ok := productExample()
	ok.Reference = strings.Repeat("R", 40)
	ok.Customer.Email = strings.Repeat("a", 28) + "@example.com"
	ok.Customer.Phone = "+46123456789012"
	ok.Metadata = map[string]string{"k": strings.Repeat("é", 256)}
	if err := p.ValidatePayment(ok); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
	// INR is a default currency (issue 10, item 9): Razorpay's Trustly
	// sample and the seed's order are INR.
	inr := productExample()
	inr.Currency, inr.Amount = "INR", 100
	if err := p.ValidatePayment(inr); err != nil {
		t.Fatalf("INR 1.00: %v", err)
	}
}

// currencies and countries replace the defaults, in the capabilities and
// in what ValidatePayment accepts.
func TestOverrides(t *testing.T) {
	p := &Provider{KeyID: testKeyID, KeySecret: testKeySecret, WebhookSecrets: []string{testWebhook},
		Overrides: providers.Overrides{Currencies: []string{"USD", "INR"}, Countries: []string{"US"}}}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	caps := p.Capabilities()
	if strings.Join(caps.Currencies, " ") != "USD INR" || strings.Join(caps.Countries, " ") != "US" {
		t.Fatalf("capabilities = %v %v", caps.Currencies, caps.Countries)
	}
	req := productExample()
	canonical(t, p.ValidatePayment(req), providers.TypeInvalidRequest, "currency", providers.SentNo)
	req.Currency = "USD"
	canonical(t, p.ValidatePayment(req), providers.TypeInvalidRequest, "customer.country", providers.SentNo)
	req.Customer.Country = "US"
	if err := p.ValidatePayment(req); err != nil {
		t.Fatal(err)
	}
	bad := &Provider{KeyID: testKeyID, KeySecret: testKeySecret, WebhookSecrets: []string{testWebhook},
		Overrides: providers.Overrides{Currencies: []string{"XYZ"}}}
	if err := bad.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "currencies") {
		t.Fatalf("unknown currency accepted: %v", err)
	}
}

// The launch data is the create body; Launch posts it to create/redirect
// with the browser's user agent and referer and returns only the page.
func TestLaunch(t *testing.T) {
	page := "<html><body>Processing, Please Wait…</body></html>"
	s := newScripted(t, map[string]canned{"POST /v1/payments/create/redirect": {200, page, "text/html; charset=UTF-8"}})
	p := testProvider(t, s.srv.URL)
	data := string(fixture(t, "payment_request.golden.json"))
	reply, err := p.Launch(context.Background(), doer(), data, &providers.IncomingNotification{Method: "GET",
		Header: http.Header{"User-Agent": {"Browser/1.0"}, "Referer": {"https://shop.example/checkout"}, "Cookie": {"x=y"}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(reply.Body) != page || reply.StatusCode != 200 || reply.Header.Get("Content-Type") != "text/html; charset=UTF-8" || len(reply.Header) != 1 {
		t.Fatalf("reply = %+v", reply)
	}
	var sent, want map[string]any
	_ = json.Unmarshal([]byte(s.requests()[0].body), &sent)
	_ = json.Unmarshal([]byte(data), &want)
	want["user_agent"], want["referer"] = "Browser/1.0", "https://shop.example/checkout"
	if b1, b2 := mustJSON(sent), mustJSON(want); b1 != b2 {
		t.Fatalf("redirect body = %s\nwant %s", b1, b2)
	}
	if _, err := p.Launch(context.Background(), doer(), "not json", nil); err == nil {
		t.Fatal("bad launch data accepted")
	}
	s.mu.Lock()
	s.replies["POST /v1/payments/create/redirect"] = canned{400, `{"error":{"code":"BAD_REQUEST_ERROR","description":"Payment already done for this order.","source":"business","step":"payment_initiation","reason":"NA","metadata":{}}}`, ""}
	s.mu.Unlock()
	_, err = p.Launch(context.Background(), doer(), data, nil)
	canonical(t, err, providers.TypeProviderDeclined, "", providers.SentYes)

	// A payment create has no idempotency: an unknown outcome is not
	// retryable (issue 10, item 10).
	s.mu.Lock()
	s.replies["POST /v1/payments/create/redirect"] = canned{503, `{"error":{"code":"SERVER_ERROR","description":"We are facing some trouble completing your request at the moment. Please try again shortly.","source":"NA","step":"NA","reason":"NA","metadata":{}}}`, ""}
	s.mu.Unlock()
	_, err = p.Launch(context.Background(), doer(), data, nil)
	if e := canonical(t, err, providers.TypeProviderError, "", providers.SentUnknown); e.Retryable || !strings.Contains(e.Message, "GET /payments/{id}") {
		t.Fatalf("5xx on the launch: %+v", e)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
