package paysage

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

func refundRequest() *providers.RefundRequest {
	return &providers.RefundRequest{
		Amount: 200, Currency: "EUR", Reason: "damaged", Reference: "RF-1",
		PaymentProviderRef: seedUID, PaymentAmount: 500, IdempotencyKey: "rk-1",
	}
}

func TestRefund(t *testing.T) {
	s := newStub(t, 200, readFile(t, "replies/refund_successful.json"))
	p := newProvider(t, s.srv.URL)
	rf, err := p.Refund(context.Background(), doer, refundRequest())
	if err != nil {
		t.Fatal(err)
	}
	got := s.last(t)
	if got.Method != "POST" || got.Path != "/beyag/transactions/refunds" || got.Header.Get("RequestID") != p.requestID("refund", "rk-1") {
		t.Fatalf("%s %s %v", got.Method, got.Path, got.Header)
	}
	want := `{"request":{"parent_uid":"` + seedUID + `","amount":200,"reason":"damaged","tracking_id":"RF-1"}}`
	if !jsonEqual(t, got.Body, []byte(want)) {
		t.Fatalf("body %s", got.Body)
	}
	golden(t, "refund_reply.golden", indent(t, rf))

	// GetRefund reads the same transaction.
	got2, err := p.GetRefund(context.Background(), doer, "9e1a4c2b-54f7-4a8e-9d0e-3b1f2c6d7e80")
	if err != nil || got2.Status != providers.RefundSucceeded || got2.Amount != 200 {
		t.Fatalf("%+v %v", got2, err)
	}
	// A payment uid is not a refund.
	sp := newStub(t, 200, seedResponse(t))
	_, err = newProvider(t, sp.srv.URL).GetRefund(context.Background(), doer, seedUID)
	canonical(t, err, providers.TypeNotFound, "")
}

// A 5xx or unreadable reply to a refund is an unknown outcome: not
// retryable, and the merchant is told to look the refund up by reference.
func TestRefundUnknownOutcome(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
	}{
		{500, `{"message":"Internal error"}`},
		{502, `<html>bad gateway`},
		{200, `<html>oops`},
	} {
		s := newStub(t, c.status, []byte(c.body))
		_, err := newProvider(t, s.srv.URL).Refund(context.Background(), doer, refundRequest())
		e := canonical(t, err, providers.TypeProviderError, "")
		if e.RequestSent != providers.SentUnknown || e.Retryable || !strings.Contains(e.Message, "reference") {
			t.Errorf("HTTP %d %s: %+v", c.status, c.body, e)
		}
	}
	// A refusal PaySage states is not unknown.
	s := newStub(t, 422, []byte(`{"message":"transaction can't be refunded","errors":{"base":["transaction can't be refunded"]}}`))
	_, err := newProvider(t, s.srv.URL).Refund(context.Background(), doer, refundRequest())
	if e := canonical(t, err, providers.TypeProviderDeclined, ""); e.RequestSent != providers.SentYes {
		t.Errorf("a refusal: %+v", e)
	}
}

func TestRefundDefaults(t *testing.T) {
	req := refundRequest()
	req.Reason, req.Reference = "", ""
	w, err := (&Provider{}).buildRefund(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(w)
	if string(b) != `{"parent_uid":"`+seedUID+`","amount":200,"reason":"Refund requested by the merchant"}` {
		t.Fatalf("%s", b)
	}
}

func TestRefundRules(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	for _, c := range []struct {
		field  string
		mutate func(*providers.RefundRequest)
	}{
		{"amount", func(r *providers.RefundRequest) { r.Amount = 0 }},
		{"amount", func(r *providers.RefundRequest) { r.Amount = 501 }},
		{"currency", func(r *providers.RefundRequest) { r.Currency = "USD" }},
		{"payment_id", func(r *providers.RefundRequest) { r.PaymentProviderRef = "../x" }},
		{"reference", func(r *providers.RefundRequest) { r.Reference = "a;b" }},
	} {
		req := refundRequest()
		c.mutate(req)
		canonical(t, p.ValidateRefund(req), providers.TypeInvalidRequest, c.field)
	}
	// The whole payment may be refunded.
	req := refundRequest()
	req.Amount = 500
	if err := p.ValidateRefund(req); err != nil {
		t.Fatal(err)
	}
}

func TestRefundRefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		typ    string
		field  string
	}{
		{"not refundable", 422, string(readFile(t, "replies/error_base.json")), providers.TypeProviderDeclined, ""},
		{"over the rest", 422, `{"message":"Unprocessable entity","errors":{"request":{"amount":["must be less than or equal to 100"]}}}`, providers.TypeInvalidRequest, "amount"},
		{"unknown parent", 422, `{"message":"Unprocessable entity","errors":{"request":{"parent_uid":["is invalid"]}}}`, providers.TypeInvalidRequest, "payment_id"},
		{"failed refund", 200, `{"transaction":{"uid":"r1","parent_uid":"` + seedUID + `","type":"refund","status":"failed","amount":200,"currency":"EUR","message":"Refund failed"}}`, providers.TypeProviderDeclined, ""},
		{"another payment", 200, `{"transaction":{"uid":"r1","parent_uid":"other","type":"refund","status":"successful","amount":200,"currency":"EUR"}}`, providers.TypeProviderError, ""},
	} {
		s := newStub(t, c.status, []byte(c.body))
		rf, err := newProvider(t, s.srv.URL).Refund(context.Background(), doer, refundRequest())
		if rf != nil {
			t.Errorf("%s: refund with the error", c.name)
		}
		canonical(t, err, c.typ, c.field)
	}
}
