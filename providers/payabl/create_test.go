package payabl

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// The PRODUCT.md example request becomes exactly this body (golden), with
// every canonical field mapped and signed with b185.
func TestPreauthGoldenBody(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	params, err := buildPreauth(productExample(), p.PaymentMethod)
	if err != nil {
		t.Fatal(err)
	}
	req, err := p.newRequest(context.Background(), opPreauthorize, params)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.URL.String() != "https://sandbox.payabl.com/pay/backoffice/payment_preauthorize" {
		t.Fatalf("request = %s %s", req.Method, req.URL)
	}
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		t.Fatalf("Content-Type = %q", ct)
	}
	body, _ := io.ReadAll(req.Body)
	golden(t, "preauth_request.golden", string(body))
}

// Only return_url given: it is used for url_success, url_failed and
// url_return. Only success/failure URLs: no url_return.
func TestPreauthRedirectURLs(t *testing.T) {
	r := productExample()
	r.SuccessURL, r.FailureURL = "", ""
	v, err := buildPreauth(r, "116")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"url_success", "url_failed", "url_return"} {
		if v.Get(k) != "https://shop.example/return" {
			t.Errorf("%s = %q", k, v.Get(k))
		}
	}
	r = productExample()
	r.ReturnURL = ""
	v, _ = buildPreauth(r, "116")
	if v.Has("url_return") || v.Get("url_success") != "https://shop.example/ok" || v.Get("url_failed") != "https://shop.example/failed" {
		t.Errorf("urls = %v", v)
	}
	// Empty values are not sent.
	r = &providers.CreatePayment{Reference: "R1", Amount: 100, Currency: "SEK", Customer: providers.Customer{Email: "a@b.se"}}
	v, _ = buildPreauth(r, "116")
	if len(v) != 5 {
		t.Errorf("minimal request sends %v", v)
	}
}

func TestPreauthPhoneAndBirthday(t *testing.T) {
	for in, want := range map[string]string{"+46701234567": "46701234567", "+46 70-123 45 67": "46701234567", "(030) 1234.5/6": "030123456"} {
		if got, err := wirePhone("customer.phone", in); err != nil || got != want {
			t.Errorf("wirePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if b, _ := wireBirthday("customer.birth_date", "1990-02-08"); b != "08021990" {
		t.Errorf("birthday = %q", b)
	}
}

// Every limit is checked before sending and names the canonical field.
func TestValidatePaymentLimits(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name  string
		mut   func(r *providers.CreatePayment)
		field string
		msg   string
	}{
		{"reference 31", func(r *providers.CreatePayment) { r.Reference = long(31) }, "reference", "at most 30"},
		{"first name 31", func(r *providers.CreatePayment) { r.Customer.FirstName = long(31) }, "customer.first_name", "customer.first_name must be at most 30 characters for payabl"},
		{"last name 31", func(r *providers.CreatePayment) { r.Customer.LastName = long(31) }, "customer.last_name", "at most 30"},
		{"email 51", func(r *providers.CreatePayment) { r.Customer.Email = long(40) + "@example.com" }, "customer.email", "at most 50"},
		{"email missing", func(r *providers.CreatePayment) { r.Customer.Email = "" }, "customer.email", "required"},
		{"phone letters", func(r *providers.CreatePayment) { r.Customer.Phone = "+46 70 CALL ME" }, "customer.phone", "digits"},
		{"phone 21", func(r *providers.CreatePayment) { r.Customer.Phone = "+" + strings.Repeat("1", 21) }, "customer.phone", "at most 20"},
		{"street 101", func(r *providers.CreatePayment) { r.Customer.Address.Line1 = long(101) }, "customer.address.line1", "at most 100"},
		{"street+line2", func(r *providers.CreatePayment) {
			r.Customer.Address.Line1, r.Customer.Address.Line2 = long(60), long(45)
		}, "customer.address.line2", "together"},
		{"city 41", func(r *providers.CreatePayment) { r.Customer.Address.City = long(41) }, "customer.address.city", "at most 40"},
		{"zip 11", func(r *providers.CreatePayment) { r.Customer.Address.PostalCode = long(11) }, "customer.address.postal_code", "at most 10"},
		{"state 31", func(r *providers.CreatePayment) { r.Customer.Address.State = long(31) }, "customer.address.state", "at most 30"},
		{"return_url 256", func(r *providers.CreatePayment) { r.ReturnURL = "https://x.example/" + long(238) }, "return_url", "at most 255"},
		{"success_url scheme", func(r *providers.CreatePayment) { r.SuccessURL = "ftp://x.example/" }, "success_url", "http"},
		{"failure_url 256", func(r *providers.CreatePayment) { r.FailureURL = "https://x.example/" + long(238) }, "failure_url", "at most 255"},
		{"non-latin1 name", func(r *providers.CreatePayment) { r.Customer.LastName = "Łukasiewicz" }, "customer.last_name", "ISO-8859-1"},
		{"non-latin1 city", func(r *providers.CreatePayment) { r.Customer.Address.City = "Москва" }, "customer.address.city", "ISO-8859-1"},
		{"birth date", func(r *providers.CreatePayment) { r.Customer.BirthDate = "08.02.1990" }, "customer.birth_date", "YYYY-MM-DD"},
		{"country", func(r *providers.CreatePayment) { r.Customer.Country = "XX" }, "customer.country", "alpha-2"},
		{"language", func(r *providers.CreatePayment) { r.Language = "ja" }, "language", "one of"},
		{"currency", func(r *providers.CreatePayment) { r.Currency = "USD" }, "currency", "not supported"},
		{"amount 9 digits", func(r *providers.CreatePayment) { r.Amount = 100_000_000_00 }, "amount", "8 digits"},
		{"amount zero", func(r *providers.CreatePayment) { r.Amount = 0 }, "amount", "greater than 0"},
		{"ip", func(r *providers.CreatePayment) { r.Customer.IP = "not-an-ip" }, "customer.ip", "IP"},
		{"description 256", func(r *providers.CreatePayment) { r.Description = long(256) }, "description", "at most 255"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := productExample()
			c.mut(r)
			e := canonical(t, p.ValidatePayment(r), providers.TypeInvalidRequest, c.field)
			if !strings.Contains(e.Message, c.msg) {
				t.Errorf("message %q does not contain %q", e.Message, c.msg)
			}
			if e.RequestSent != providers.SentNo {
				t.Errorf("request_sent = %q", e.RequestSent)
			}
		})
	}
	// Exactly at the limits passes, Latin-1 accents included.
	r := productExample()
	r.Reference = long(30)
	r.Customer.FirstName, r.Customer.LastName = "Åsa"+long(27), "Lindström"+long(21)
	r.Customer.Email = long(38) + "@example.com"
	if err := p.ValidatePayment(r); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
}

// The seed's response example: status 2000 with a percent-encoded
// redirect_url, decoded exactly once.
func TestPreauthReplySeedExample(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	body := "transactionid=104579097&transid=104579097&status=2000&errormessage=pending&errmsg=pending&amount=19.99&price=19.99&" +
		"currency=EUR&orderid=Payabl-Test&payment_method=116&redirect_url=https%3A%2F%2Fsandbox.payabl.com%2Fpay%2F73b4" +
		"08a26b3a06968cf3234140da43b6e803e574%2Fpayment%2Fredirect_to_bank&user_id=504459"
	req := &providers.CreatePayment{Reference: "Payabl-Test", Amount: 1999, Currency: "EUR"}
	pay, err := p.paymentFromPreauth(req, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if pay.Status != providers.StatusRequiresAction || pay.ProviderReference != "104579097" ||
		pay.ProviderStatus != "2000" || pay.ProviderMessage != "pending" || !pay.Test || pay.Amount != 1999 {
		t.Fatalf("payment = %+v", pay)
	}
	na := pay.NextAction
	if na == nil || na.Type != "redirect" || na.Method != "GET" ||
		na.URL != "https://sandbox.payabl.com/pay/73b408a26b3a06968cf3234140da43b6e803e574/payment/redirect_to_bank" {
		t.Fatalf("next_action = %+v", na)
	}
}

func TestPreauthReplyClassification(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	req := &providers.CreatePayment{Reference: "R", Amount: 999, Currency: "EUR"}
	ok, err := p.paymentFromPreauth(req, []byte("transactionid=5&status=0&errormessage=&amount=9.99&currency=EUR"))
	// A pre-authorisation reserves funds: status 0 is authorized, never
	// succeeded (issue 10, item 10).
	if err != nil || ok.Status != providers.StatusAuthorized {
		t.Fatalf("status 0: %+v %v", ok, err)
	}
	pend, err := p.paymentFromPreauth(req, []byte("transactionid=5&status=2000&errormessage=pending"))
	if err != nil || pend.Status != providers.StatusProcessing || pend.NextAction.Type != "poll" {
		t.Fatalf("2000 without redirect: %+v %v", pend, err)
	}

	cases := []struct {
		body, typ, code string
		retry           bool
	}{
		{"status=-5002&errormessage=Payment+failed", providers.TypeProviderDeclined, "-5002", false},
		{"status=-2407&errormessage=Blocked", providers.TypeProviderDeclined, "-2407", false},
		{"status=-1318&errormessage=IBAN+wrong", providers.TypeProviderDeclined, "-1318", false},
		{"status=-999&errormessage=Unknown+error", providers.TypeProviderError, "-999", false},
		{"status=-6000&errormessage=Found+wrong+or+missing+fields", providers.TypeProviderError, "-6000", false},
		{"status=-6113&errormessage=Wrong+firstname", providers.TypeProviderError, "-6113", false},
		{"status=-5000&errormessage=Internal+error", providers.TypeProviderError, "-5000", true},
	}
	for _, c := range cases {
		_, err := p.paymentFromPreauth(req, []byte(c.body))
		e := canonical(t, err, c.typ, "")
		if e.ProviderCode == nil || *e.ProviderCode != c.code || e.RequestSent != providers.SentYes || e.Retryable != c.retry {
			t.Errorf("%s: %+v", c.body, e)
		}
		if e.ProviderMessage == nil || *e.ProviderMessage == "" {
			t.Errorf("%s: provider message lost", c.body)
		}
	}
	for _, garbage := range []string{"<html>oops", "", "status=abc", "status=2000&errormessage=pending&redirect_url=https%3A%2F%2Fx", "%zz", "status=2000&transactionid=7&redirect_url=javascript:alert(1)"} {
		_, err := p.paymentFromPreauth(req, []byte(garbage))
		e := canonical(t, err, providers.TypeProviderError, "")
		if e.Code != "invalid_provider_reply" {
			t.Errorf("%q: code %q", garbage, e.Code)
		}
	}
	// An echo about another amount is not about this payment.
	_, err = p.paymentFromPreauth(req, []byte("transactionid=5&status=2000&amount=1.00&currency=EUR&redirect_url=https%3A%2F%2Fx.example%2F"))
	canonical(t, err, providers.TypeProviderError, "")
}

// HTTP status handling over real HTTP: non-200 is a provider error. A 5xx
// reply to a create says nothing about whether payabl made the payment, and
// payabl has no idempotency key, so it is request_sent "unknown", not
// retryable, and tells the merchant to look the payment up by reference
// (issue 10, item 10). A 404 (wrong path) did not reach the API.
func TestCreatePaymentHTTPStatus(t *testing.T) {
	for _, status := range []int{500, 502, 503, 404} {
		srv := newStatusServer(t, status)
		p := testProvider(t, srv.URL+"/pay/backoffice")
		_, err := p.CreatePayment(context.Background(), &providers.HTTPDoer{}, productExample())
		e := canonical(t, err, providers.TypeProviderError, "")
		if status >= 500 {
			if e.RequestSent != providers.SentUnknown || e.Retryable || !strings.Contains(e.Message, "reference=") {
				t.Errorf("HTTP %d: %+v", status, e)
			}
			continue
		}
		if e.RequestSent != providers.SentYes || e.Retryable {
			t.Errorf("HTTP %d: %+v", status, e)
		}
	}
}
