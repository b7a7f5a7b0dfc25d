package paysage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// seedResponse is the seed's response example with its placeholder
// form.action ("link-to-payment-page") made a real URL.
func seedResponse(t *testing.T) []byte {
	b := readFile(t, "seed/response_example.json")
	return []byte(strings.Replace(string(b), `"link-to-payment-page"`, `"https://checkout.paysage.io/link-to-payment-page"`, 1))
}

// The seed's request example, built from the equivalent canonical request:
// the same JSON plus the tracking_id and notification_url a real create
// must send (the seed omits both; reference §3.2).
func TestCreateRequestMatchesSeedExample(t *testing.T) {
	s := newStub(t, 200, seedResponse(t))
	p := newProvider(t, s.srv.URL+"/")
	req := seedPayment()
	req.IdempotencyKey = "idem-1"
	if _, err := p.CreatePayment(context.Background(), doer, req); err != nil {
		t.Fatal(err)
	}
	got := s.last(t)
	if got.Method != "POST" || got.Path != "/beyag/transactions/payments" {
		t.Fatalf("%s %s", got.Method, got.Path)
	}
	var want map[string]map[string]any
	if err := json.Unmarshal(readFile(t, "seed/request_example.json"), &want); err != nil {
		t.Fatal(err)
	}
	want["request"]["tracking_id"] = "ORD-1001"
	want["request"]["notification_url"] = "https://gw.example/notifications/paysage"
	wantJSON, _ := json.Marshal(want)
	if !jsonEqual(t, got.Body, wantJSON) {
		t.Fatalf("request body\n got: %s\nwant: %s", got.Body, wantJSON)
	}
	if got.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(testShopID+":"+testSecret)) {
		t.Fatal("no Basic shop_id:secret_key")
	}
	if got.Header.Get("Content-Type") != "application/json" || got.Header.Get("Accept") != "application/json" {
		t.Fatalf("headers %v", got.Header)
	}
	if got.Header.Get("X-Api-Version") != "" {
		t.Fatal("X-API-Version sent to the APM API")
	}
	rid := got.Header.Get("RequestID")
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(rid) {
		t.Fatalf("RequestID %q is not a UUID", rid)
	}
	if rid != p.requestID("payment", "idem-1") || rid == p.requestID("refund", "idem-1") || rid == p.requestID("payment", "idem-2") {
		t.Fatal("RequestID is not derived from the operation and the key alone")
	}
	if strings.Contains(rid, "idem-1") {
		t.Fatal("the raw Idempotency-Key is sent")
	}

	// Without an Idempotency-Key no RequestID is sent.
	req.IdempotencyKey = ""
	if _, err := p.CreatePayment(context.Background(), doer, req); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.last(t).Header["Requestid"]; ok {
		t.Fatal("RequestID sent without an Idempotency-Key")
	}
}

// Every canonical field PaySage has a place for, byte for byte.
func TestCreateRequestFullMapping(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	w, err := p.buildPayment(productExample())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(struct {
		Request any `json:"request"`
	}{w})
	golden(t, "create_request_full.golden", string(b))

	p.Test = false
	w, _ = p.buildPayment(productExample())
	if b, _ := json.Marshal(w); strings.Contains(string(b), `"test"`) {
		t.Fatalf("test sent for a live shop: %s", b)
	}
}

func TestReturnURLChoice(t *testing.T) {
	req := productExample()
	req.SuccessURL, req.FailureURL = "https://shop.example/ok", "https://shop.example/failed"
	req.GatewayReturnURL = "https://gw.example/returns/paysage"
	got, err := returnURL(req)
	if err != nil || got != "https://gw.example/returns/paysage?reference=ORD-1001" {
		t.Fatalf("with success/failure URLs: %q %v", got, err)
	}
	req.GatewayReturnURL = ""
	if got, _ := returnURL(req); got != "https://shop.example/return" {
		t.Fatalf("without a gateway return URL: %q", got)
	}
	req.ReturnURL = ""
	if got, _ := returnURL(req); got != "https://shop.example/ok" {
		t.Fatalf("success_url only: %q", got)
	}
	req.SuccessURL, req.FailureURL = "", ""
	_, err = returnURL(req)
	canonical(t, err, providers.TypeInvalidRequest, "return_url")
}

func TestValidatePaymentRules(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	if err := p.ValidatePayment(productExample()); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	cases := []struct {
		name, field, msg string
		mutate           func(*providers.CreatePayment)
	}{
		{"USD", "currency", "DKK, EUR, GBP, NOK, SEK", func(r *providers.CreatePayment) { r.Currency = "USD" }},
		{"zero amount", "amount", "greater than 0", func(r *providers.CreatePayment) { r.Amount = 0 }},
		{"no customer.id", "customer.id", "required by PaySage", func(r *providers.CreatePayment) { r.Customer.ID = "" }},
		{"no first name", "customer.first_name", "required", func(r *providers.CreatePayment) { r.Customer.FirstName = " " }},
		{"no last name", "customer.last_name", "required", func(r *providers.CreatePayment) { r.Customer.LastName = "" }},
		{"no country", "customer.country", "required", func(r *providers.CreatePayment) { r.Customer.Country = "" }},
		{"alpha-3 country", "customer.country", "alpha-2", func(r *providers.CreatePayment) { r.Customer.Country = "SWE" }},
		{"no description", "description", "required", func(r *providers.CreatePayment) { r.Description = "" }},
		{"long description", "description", "255", func(r *providers.CreatePayment) { r.Description = strings.Repeat("é", 256) }},
		{"reference with /", "reference", "tracking_id", func(r *providers.CreatePayment) { r.Reference = "a/b" }},
		{"reference with ;", "reference", "tracking_id", func(r *providers.CreatePayment) { r.Reference = "a;b" }},
		{"reference ..", "reference", "URL path", func(r *providers.CreatePayment) { r.Reference = ".." }},
		{"long reference", "reference", "255", func(r *providers.CreatePayment) { r.Reference = strings.Repeat("r", 256) }},
		{"no reference", "reference", "required", func(r *providers.CreatePayment) { r.Reference = "" }},
		{"bad ip", "customer.ip", "IPv4", func(r *providers.CreatePayment) { r.Customer.IP = "999.1.1.1" }},
		{"bad birth date", "customer.birth_date", "YYYY-MM-DD", func(r *providers.CreatePayment) { r.Customer.BirthDate = "08.02.1990" }},
		{"bad language", "language", "ISO 639-1", func(r *providers.CreatePayment) { r.Language = "eng" }},
		{"no return url", "return_url", "required", func(r *providers.CreatePayment) { r.ReturnURL = "" }},
		{"relative return url", "return_url", "absolute", func(r *providers.CreatePayment) { r.ReturnURL = "/back" }},
	}
	for _, c := range cases {
		req := productExample()
		c.mutate(req)
		e := canonical(t, p.ValidatePayment(req), providers.TypeInvalidRequest, c.field)
		if !strings.Contains(e.Message, c.msg) || e.RequestSent != providers.SentNo {
			t.Errorf("%s: %+v, want a message mentioning %q and request_sent no", c.name, e, c.msg)
		}
	}
	// At the reference limit: accepted.
	req := productExample()
	req.Reference = strings.Repeat("r", 255)
	if err := p.ValidatePayment(req); err != nil {
		t.Fatal(err)
	}
}

// A refused request is never sent.
func TestInvalidPaymentIsNotSent(t *testing.T) {
	s := newStub(t, 200, seedResponse(t))
	p := newProvider(t, s.srv.URL)
	req := seedPayment()
	req.Currency = "CHF"
	_, err := p.CreatePayment(context.Background(), doer, req)
	canonical(t, err, providers.TypeInvalidRequest, "currency")
	if s.count() != 0 {
		t.Fatal("an invalid request reached PaySage")
	}
}

// The seed's response example becomes this canonical payment.
func TestCreateReplySeedExample(t *testing.T) {
	s := newStub(t, 200, seedResponse(t))
	p := newProvider(t, s.srv.URL)
	pay, err := p.CreatePayment(context.Background(), doer, seedPayment())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "create_reply_seed.golden", indent(t, pay))
}

// The seed's form.action is a placeholder, not a URL: taken literally it
// cannot send a customer anywhere, so it is garbage, not a redirect.
func TestCreateReplyPlaceholderAction(t *testing.T) {
	s := newStub(t, 200, readFile(t, "seed/response_example.json"))
	p := newProvider(t, s.srv.URL)
	_, err := p.CreatePayment(context.Background(), doer, seedPayment())
	e := canonical(t, err, providers.TypeProviderError, "")
	if e.RequestSent != providers.SentUnknown || !strings.Contains(e.Message, "form.action") {
		t.Fatalf("%+v", e)
	}
}

func TestFormToNextAction(t *testing.T) {
	cases := []struct {
		name, form string
		want       providers.NextAction
	}{
		{"GET, empty fields", `{"action":"https://pay.example/p?x=1","method":"GET","fields":[]}`,
			providers.NextAction{Type: "redirect", URL: "https://pay.example/p?x=1", Method: "GET"}},
		{"no method", `{"action":"https://pay.example/p"}`,
			providers.NextAction{Type: "redirect", URL: "https://pay.example/p", Method: "GET"}},
		{"GET with fields goes in the query", `{"action":"https://pay.example/p","method":"get","fields":[{"name":"token","value":"abc"}]}`,
			providers.NextAction{Type: "redirect", URL: "https://pay.example/p?token=abc", Method: "GET"}},
		{"POST, name/value objects", `{"action":"https://pay.example/p","method":"POST","fields":[{"name":"token","value":"abc"},{"name":"n","value":5},{"name":"e","value":null}]}`,
			providers.NextAction{Type: "redirect", URL: "https://pay.example/p", Method: "POST", Fields: map[string]string{"token": "abc", "n": "5", "e": ""}}},
		{"POST, pairs", `{"action":"https://pay.example/p","method":"POST","fields":[["token","abc"]]}`,
			providers.NextAction{Type: "redirect", URL: "https://pay.example/p", Method: "POST", Fields: map[string]string{"token": "abc"}}},
		{"POST, object", `{"action":"https://pay.example/p","method":"POST","fields":{"token":"abc","flag":true}}`,
			providers.NextAction{Type: "redirect", URL: "https://pay.example/p", Method: "POST", Fields: map[string]string{"token": "abc", "flag": "true"}}},
	}
	for _, c := range cases {
		var f form
		if err := json.Unmarshal([]byte(c.form), &f); err != nil {
			t.Fatal(err)
		}
		got, err := f.nextAction()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if indent(t, got) != indent(t, c.want) {
			t.Errorf("%s: got %s, want %s", c.name, indent(t, got), indent(t, c.want))
		}
	}
	for _, bad := range []string{
		`{"action":"javascript:alert(1)","method":"GET"}`,
		`{"action":"https://pay.example/p","method":"PUT"}`,
		`{"action":"https://pay.example/p","method":"POST","fields":[1,2]}`,
		`{"action":"https://pay.example/p","method":"POST","fields":"x"}`,
	} {
		var f form
		_ = json.Unmarshal([]byte(bad), &f)
		if _, err := f.nextAction(); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestCreateReplyOutcomes(t *testing.T) {
	tx := func(status string, amount int, extra string) []byte {
		return []byte(`{"transaction":{"uid":"d210921d-092e-4a04-b8b7-add19669e234","type":"payment","status":"` + status +
			`","amount":` + itoa(amount) + `,"currency":"EUR","message":"Payment was declined.","tracking_id":"ORD-1001"` + extra + `}}`)
	}
	cases := []struct {
		name       string
		status     int
		body       []byte
		typ, sent  string
		code       string
		wantStatus providers.Status
	}{
		{"declined at create", 200, tx("failed", 500, ""), providers.TypeProviderDeclined, providers.SentYes, "failed", ""},
		{"error status", 200, tx("error", 500, ""), providers.TypeProviderError, providers.SentYes, "error", ""},
		{"successful at once", 200, tx("successful", 500, ""), "", "", "", providers.StatusSucceeded},
		{"another amount", 200, tx("pending", 501, `,"form":{"action":"https://p.example"}`), providers.TypeProviderError, providers.SentUnknown, "invalid_provider_reply", ""},
		{"fractional amount", 200, []byte(`{"transaction":{"uid":"u1","status":"pending","amount":5.00,"currency":"EUR"}}`), providers.TypeProviderError, providers.SentUnknown, "invalid_provider_reply", ""},
		{"pending without form", 200, tx("pending", 500, ""), providers.TypeProviderError, providers.SentUnknown, "invalid_provider_reply", ""},
		{"HTML on 200", 200, []byte("<html>oops"), providers.TypeProviderError, providers.SentUnknown, "invalid_provider_reply", ""},
		{"empty object on 200", 200, []byte("{}"), providers.TypeProviderError, providers.SentUnknown, "invalid_provider_reply", ""},
		// A 5xx or unreadable reply is an unknown outcome (issue 10 item
		// 10): PaySage may have created the payment, and no idempotency
		// key protects a retry.
		{"HTML 502", 502, []byte("<html>bad gateway"), providers.TypeProviderError, providers.SentUnknown, "http_502", ""},
		{"JSON 500", 500, []byte(`{"message":"Internal error","errors":{"system":["System error."]}}`), providers.TypeProviderError, providers.SentUnknown, "http_500", ""},
		{"503 with a transaction", 503, tx("pending", 500, `,"form":{"action":"https://p.example"}`), providers.TypeProviderError, providers.SentUnknown, "http_503", ""},
	}
	for _, c := range cases {
		s := newStub(t, c.status, c.body)
		p := newProvider(t, s.srv.URL)
		pay, err := p.CreatePayment(context.Background(), doer, seedPayment())
		if c.typ == "" {
			if err != nil || pay.Status != c.wantStatus || pay.NextAction != nil {
				t.Errorf("%s: %+v %v", c.name, pay, err)
			}
			continue
		}
		if pay != nil {
			t.Errorf("%s: a payment with the error", c.name)
		}
		e := canonical(t, err, c.typ, "")
		if e.RequestSent != c.sent || e.Code != c.code && (e.ProviderCode == nil || *e.ProviderCode != c.code) {
			t.Errorf("%s: %+v", c.name, e)
		}
		if c.sent == providers.SentUnknown && (e.Retryable || !strings.Contains(e.Message, "reference")) {
			t.Errorf("%s: an unknown outcome is retryable or does not say to look the payment up by reference: %+v", c.name, e)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
