package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

const validPayment = `{
  "provider": "payabl", "reference": "ORD-1001", "amount": 1999, "currency": "EUR",
  "description": "Order 1001",
  "customer": {"id": "cust-42", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
    "phone": "+46701234567", "country": "SE", "birth_date": "1990-02-08", "ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0", "referer": "https://shop.example/cart",
    "address": {"line1": "Storgatan 1", "city": "Stockholm", "postal_code": "11122"}},
  "language": "en", "return_url": "https://shop.example/return",
  "success_url": "https://shop.example/ok", "failure_url": "https://shop.example/failed",
  "metadata": {"cart": "c-9"}
}`

func decodeAndValidate(body string) *providers.Error {
	var req providers.CreatePayment
	if e := decodeStrict([]byte(body), &req); e != nil {
		return e
	}
	return validatePayment(&req)
}

func TestValidPaymentDecodes(t *testing.T) {
	var req providers.CreatePayment
	if e := decodeStrict([]byte(validPayment), &req); e != nil {
		t.Fatal(e)
	}
	if e := validatePayment(&req); e != nil {
		t.Fatal(e)
	}
	if req.Amount != 1999 || req.Customer.Address.City != "Stockholm" || req.Metadata["cart"] != "c-9" {
		t.Fatalf("decoded wrongly: %+v", req)
	}
}

// TestBadInputs: every bad input is a canonical error naming the field.
func TestBadInputs(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(validPayment, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(validPayment, old, new, 1)
	}
	cases := []struct {
		name, body, field, code string
	}{
		{"malformed", `{"amount": 19`, "", "invalid_json"},
		{"not an object", `[1,2]`, "", "invalid_json"},
		{"two objects", validPayment + `{}`, "", "invalid_json"},
		{"empty", ``, "", "invalid_json"},
		{"unknown top field", replace(`"language": "en"`, `"language": "en", "amount_eur": 3`), "amount_eur", "unknown_field"},
		{"unknown nested field", replace(`"city": "Stockholm"`, `"city": "Stockholm", "zip": "1"`), "customer.address.zip", "unknown_field"},
		{"float amount", replace(`"amount": 1999`, `"amount": 19.99`), "amount", "invalid_field"},
		{"string amount", replace(`"amount": 1999`, `"amount": "1999"`), "amount", "invalid_field"},
		{"exponent amount", replace(`"amount": 1999`, `"amount": 2e3`), "amount", "invalid_field"},
		{"huge amount", replace(`"amount": 1999`, `"amount": 99999999999999999999`), "amount", "invalid_field"},
		{"zero amount", replace(`"amount": 1999`, `"amount": 0`), "amount", "invalid_field"},
		{"negative amount", replace(`"amount": 1999`, `"amount": -5`), "amount", "invalid_field"},
		{"missing amount", replace(`"amount": 1999,`, ``), "amount", "invalid_field"},
		{"bad currency", replace(`"EUR"`, `"EURO"`), "currency", "invalid_field"},
		{"lower currency", replace(`"EUR"`, `"eur"`), "currency", "invalid_field"},
		{"unknown currency", replace(`"EUR"`, `"XYZ"`), "currency", "invalid_field"},
		{"missing reference", replace(`"reference": "ORD-1001",`, ``), "reference", "missing_field"},
		{"bad reference", replace(`"ORD-1001"`, `"ORD 1001<script>"`), "reference", "invalid_field"},
		{"bad country", replace(`"country": "SE"`, `"country": "SWE"`), "customer.country", "invalid_field"},
		{"unknown country", replace(`"country": "SE"`, `"country": "QQ"`), "customer.country", "invalid_field"},
		{"country wrong type", replace(`"country": "SE"`, `"country": 46`), "customer.country", "invalid_field"},
		{"bad email", replace(`jane@example.com`, `jane at example`), "customer.email", "invalid_field"},
		{"bad phone", replace(`+46701234567`, `call me`), "customer.phone", "invalid_field"},
		{"bad ip", replace(`203.0.113.7`, `localhost`), "customer.ip", "invalid_field"},
		{"bad birth date", replace(`1990-02-08`, `08.02.1990`), "customer.birth_date", "invalid_field"},
		{"ftp return url", replace(`https://shop.example/return`, `ftp://shop.example/return`), "return_url", "invalid_field"},
		{"relative success url", replace(`https://shop.example/ok`, `/ok`), "success_url", "invalid_field"},
		{"javascript referer", replace(`https://shop.example/cart`, `javascript:alert(1)`), "customer.referer", "invalid_field"},
		{"bad language", replace(`"language": "en"`, `"language": "English"`), "language", "invalid_field"},
		{"customer not object", replace(`"customer": {`, `"customer": "x", "c": {`), "c", "unknown_field"},
		{"metadata not strings", replace(`{"cart": "c-9"}`, `{"cart": 9}`), "metadata", "invalid_field"},
		{"control chars", replace(`Order 1001`, `Order\u0007`), "description", "invalid_field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := decodeAndValidate(c.body)
			if e == nil {
				t.Fatal("accepted")
			}
			if e.Type != providers.TypeInvalidRequest || e.Status() != 400 || e.RequestSent != providers.SentNo {
				t.Errorf("type/status/sent = %s/%d/%s", e.Type, e.Status(), e.RequestSent)
			}
			if e.Code != c.code {
				t.Errorf("code = %q, want %q (%s)", e.Code, c.code, e.Message)
			}
			if c.field != "" && e.Field != c.field {
				t.Errorf("field = %q, want %q (%s)", e.Field, c.field, e.Message)
			}
			if e.Message == "" {
				t.Error("no message")
			}
		})
	}
}

func TestFindUnknownReportsFullPath(t *testing.T) {
	var req providers.CreatePayment
	e := decodeStrict([]byte(`{"customer":{"address":{"line9":"x"}}}`), &req)
	if e == nil || e.Field != "customer.address.line9" {
		t.Fatalf("got %+v", e)
	}
}

func TestRoutePrefix(t *testing.T) {
	for path, want := range map[string]string{
		"/payments": "", "/payments/pay_x": "", "/pay/payments": "/pay", "/shop/pay/payments/pay_x": "/shop/pay",
	} {
		if got := routePrefix(path); got != want {
			t.Errorf("routePrefix(%q) = %q, want %q", path, got, want)
		}
	}
}
