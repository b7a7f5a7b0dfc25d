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

// Canonical → both wire bodies, exact JSON, plus the transport facts
// (paths, Basic auth, content type).
func TestCreatePaymentWire(t *testing.T) {
	s := newScripted(t, map[string]canned{
		"POST /v1/orders":               {200, string(fixture(t, "replies/order_created.json")), ""},
		"POST /v1/payments/create/json": {200, string(fixture(t, "replies/create_json_trustly.json")), ""},
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
	if len(got) != 2 || got[0].path != "/v1/orders" || got[1].path != "/v1/payments/create/json" {
		t.Fatalf("calls = %+v", got)
	}
	golden(t, "order_request.golden.json", got[0].body)
	golden(t, "payment_request.golden.json", got[1].body)
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testKeyID+":"+testKeySecret))
	for _, r := range got {
		if r.header.Get("Authorization") != wantAuth {
			t.Errorf("%s: Authorization = %q", r.path, r.header.Get("Authorization"))
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type = %q", r.path, r.header.Get("Content-Type"))
		}
	}

	// The documented reply (§3.4, poll only) → LaunchData, no customer URL.
	if pay.ProviderReference != "order_RB58MiP5SPFYyM" || pay.Reference != "ORD-1001" || pay.Amount != 1999 ||
		pay.Currency != "EUR" || pay.Status != providers.StatusRequiresAction || !pay.Test || pay.Object != "payment" {
		t.Fatalf("payment = %+v", pay)
	}
	if pay.NextAction == nil || pay.NextAction.Type != "poll" || pay.NextAction.URL != "" {
		t.Fatalf("next action = %+v (Razorpay's poll URL must not reach the merchant)", pay.NextAction)
	}
	if pay.LaunchData != got[1].body {
		t.Fatalf("launch data = %s, want the create body", pay.LaunchData)
	}
	if strings.Contains(pay.LaunchData, testKeySecret) || pay.CreatedAt.Unix() != 1756455561 {
		t.Fatalf("launch data / created_at wrong: %+v", pay)
	}
}

// A reply with a redirect action (documented for netbanking) is used as is.
func TestCreatePaymentRedirectAction(t *testing.T) {
	s := newScripted(t, map[string]canned{
		"POST /v1/orders":               {200, string(fixture(t, "replies/order_created.json")), ""},
		"POST /v1/payments/create/json": {200, string(fixture(t, "replies/create_json_redirect.json")), ""},
	})
	pay, err := testProvider(t, s.srv.URL).CreatePayment(context.Background(), doer(), productExample())
	if err != nil {
		t.Fatal(err)
	}
	if pay.LaunchData != "" || pay.NextAction == nil || pay.NextAction.Type != "redirect" || pay.NextAction.Method != "GET" ||
		pay.NextAction.URL != "https://api.razorpay.com/v1/payments/FVptEs3cSWX1fs/authorize" {
		t.Fatalf("payment = %+v, next = %+v", pay, pay.NextAction)
	}
}

// failSecond is a Doer whose second call fails before anything is sent.
type failSecond struct {
	inner providers.Doer
	n     int
}

func (d *failSecond) Do(ctx context.Context, r *http.Request) (*providers.Reply, error) {
	d.n++
	if d.n == 2 {
		return nil, &providers.Error{Type: providers.TypeProviderUnreachable, Code: "provider_unreachable", Message: "refused", RequestSent: providers.SentNo, Retryable: true}
	}
	return d.inner.Do(ctx, r)
}

// A failure between the two calls: the order exists, so request_sent is
// never "no".
func TestCreatePaymentSecondCallFails(t *testing.T) {
	order := string(fixture(t, "replies/order_created.json"))
	cases := map[string]struct {
		reply    canned
		typ      string
		sent     string
		retry    bool
		provCode string
	}{
		"decline": {canned{400, `{"error":{"code":"BAD_REQUEST_ERROR","description":"Payment failed","source":"bank","step":"payment_initiation","reason":"payment_failed","metadata":{}}}`, ""},
			providers.TypeProviderDeclined, providers.SentYes, false, "BAD_REQUEST_ERROR"},
		"server error": {canned{500, `{"error":{"code":"SERVER_ERROR","description":"We are facing some trouble completing your request at the moment. Please try again shortly.","source":"NA","step":"NA","reason":"NA","metadata":{}}}`, ""},
			providers.TypeProviderError, providers.SentUnknown, true, "SERVER_ERROR"},
		"garbage":       {canned{200, "<html>oops", "text/html"}, providers.TypeProviderError, providers.SentUnknown, false, ""},
		"no payment id": {canned{200, `{"next":[]}`, ""}, providers.TypeProviderError, providers.SentUnknown, false, ""},
		"route missing": {canned{404, `{"message":"no Route matched with those values"}`, ""}, providers.TypeProviderError, providers.SentUnknown, false, "http_404"},
		"rate limited":  {canned{429, `{"error":{"code":"BAD_REQUEST_ERROR","description":"Too many requests","source":"NA","step":"NA","reason":"NA","metadata":{}}}`, ""}, providers.TypeProviderError, providers.SentYes, true, "BAD_REQUEST_ERROR"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newScripted(t, map[string]canned{"POST /v1/orders": {200, order, ""}, "POST /v1/payments/create/json": c.reply})
			_, err := testProvider(t, s.srv.URL).CreatePayment(context.Background(), doer(), productExample())
			e := canonical(t, err, c.typ, "", c.sent)
			if e.Retryable != c.retry {
				t.Errorf("retryable = %v", e.Retryable)
			}
			if c.provCode != "" && (e.ProviderCode == nil || *e.ProviderCode != c.provCode) {
				t.Errorf("provider code = %v", e.ProviderCode)
			}
		})
	}
	t.Run("not sent", func(t *testing.T) {
		s := newScripted(t, map[string]canned{"POST /v1/orders": {200, order, ""}})
		_, err := testProvider(t, s.srv.URL).CreatePayment(context.Background(), &failSecond{inner: doer()}, productExample())
		e := canonical(t, err, providers.TypeProviderUnreachable, "", providers.SentYes)
		if !e.Retryable || !strings.Contains(e.Message, "find the payment by reference") {
			t.Errorf("error = %+v", e)
		}
	})
	t.Run("order refused", func(t *testing.T) {
		s := newScripted(t, map[string]canned{"POST /v1/orders": {400, `{"error":{"code":"BAD_REQUEST_ERROR","description":"The amount must be at least INR 1.00","source":"business","step":"payment_initiation","reason":"input_validation_failed","metadata":{},"field":"amount"}}`, ""}})
		_, err := testProvider(t, s.srv.URL).CreatePayment(context.Background(), doer(), productExample())
		canonical(t, err, providers.TypeInvalidRequest, "amount", providers.SentYes)
		if n := len(s.requests()); n != 1 {
			t.Errorf("%d calls after a refused order", n)
		}
	})
	t.Run("order reply for another amount", func(t *testing.T) {
		s := newScripted(t, map[string]canned{"POST /v1/orders": {200, strings.Replace(order, `"amount":1999`, `"amount":1000`, 1), ""}})
		_, err := testProvider(t, s.srv.URL).CreatePayment(context.Background(), doer(), productExample())
		canonical(t, err, providers.TypeProviderError, "", providers.SentUnknown)
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
		"currency INR":  {func(r *providers.CreatePayment) { r.Currency = "INR" }, "currency"},
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
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
