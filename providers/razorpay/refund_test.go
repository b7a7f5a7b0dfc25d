package razorpay

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

func refundReq() *providers.RefundRequest {
	return &providers.RefundRequest{Amount: 500, Currency: "EUR", Reason: "damaged", Reference: "RF-1",
		PaymentProviderRef: "order_RB58MiP5SPFYyM", PaymentAmount: 1999, IdempotencyKey: "idem-key-0001"}
}

// Refund finds the captured attempt of the order, refunds it with the
// golden body and the idempotency header; the documented reply (§6.1)
// maps to a succeeded refund. The documented reply is of an INR refund of
// 500100; here it answers the request's 500 EUR.
func TestRefund(t *testing.T) {
	reply := strings.NewReplacer(`"amount":500100`, `"amount":500`, `"currency":"INR"`, `"currency":"EUR"`).
		Replace(string(fixture(t, "replies/refund_processed.json")))
	s := newScripted(t, map[string]canned{
		"GET /v1/orders/order_RB58MiP5SPFYyM/payments": {200, payments(attempt("pay_A1", "created", 100, 0), attempt("pay_29QQoUBi66xm2f", "captured", 101, 0)), ""},
		"POST /v1/payments/pay_29QQoUBi66xm2f/refund":  {200, reply, ""},
	})
	p := testProvider(t, s.srv.URL)
	req := refundReq()
	if err := p.ValidateRefund(req); err != nil {
		t.Fatal(err)
	}
	rf, err := p.Refund(context.Background(), doer(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := s.requests()
	golden(t, "refund_request.golden.json", got[1].body)
	if h := got[1].header.Get("X-Refund-Idempotency"); h != "idem-key-0001" {
		t.Fatalf("X-Refund-Idempotency = %q", h)
	}
	if rf.ProviderReference != "rfnd_FP8QHiV938haTz" || rf.Amount != 500 || rf.Currency != "EUR" ||
		rf.Status != providers.RefundSucceeded || rf.ProviderStatus != "processed" || rf.Reference != "RF-1" ||
		rf.Object != "refund" || !rf.Test || rf.CreatedAt.Unix() != 1597078866 || rf.ID != "" || rf.PaymentID != "" {
		t.Fatalf("refund = %+v", rf)
	}
}

// A refund reply for another amount or currency than requested leaves the
// outcome unknown.
func TestRefundReplyForAnotherAmount(t *testing.T) {
	s := newScripted(t, map[string]canned{
		"GET /v1/orders/order_RB58MiP5SPFYyM/payments": {200, payments(attempt("pay_29QQoUBi66xm2f", "captured", 101, 0)), ""},
		"POST /v1/payments/pay_29QQoUBi66xm2f/refund":  {200, string(fixture(t, "replies/refund_processed.json")), ""},
	})
	_, err := testProvider(t, s.srv.URL).Refund(context.Background(), doer(), refundReq())
	canonical(t, err, providers.TypeProviderError, "", providers.SentUnknown)
}

func TestRefundRefusals(t *testing.T) {
	s := newScripted(t, map[string]canned{
		"GET /v1/orders/order_RB58MiP5SPFYyM/payments": {200, payments(attempt("pay_A1", "failed", 100, 0)), ""},
		"GET /v1/orders/order_Paid1/payments":          {200, strings.ReplaceAll(payments(attempt("pay_B2", "captured", 100, 0)), "order_RB58MiP5SPFYyM", "order_Paid1"), ""},
		"POST /v1/payments/pay_B2/refund":              {400, `{"error":{"code":"BAD_REQUEST_ERROR","description":"The refund amount provided is greater than amount captured","source":"business","step":"NA","reason":"input_validation_failed","metadata":{},"field":"amount"}}`, ""},
	})
	p := testProvider(t, s.srv.URL)
	_, err := p.Refund(context.Background(), doer(), refundReq())
	canonical(t, err, providers.TypeInvalidRequest, "payment_id", providers.SentNo)
	req := refundReq()
	req.PaymentProviderRef = "order_Paid1"
	_, err = p.Refund(context.Background(), doer(), req)
	e := canonical(t, err, providers.TypeInvalidRequest, "amount", providers.SentYes)
	if e.ProviderMessage == nil || !strings.Contains(*e.ProviderMessage, "greater than amount captured") {
		t.Fatalf("error = %+v", e)
	}
	for name, mut := range map[string]func(*providers.RefundRequest){
		"zero":      func(r *providers.RefundRequest) { r.Amount = 0 },
		"too much":  func(r *providers.RefundRequest) { r.Amount = 2000 },
		"reference": func(r *providers.RefundRequest) { r.Reference = strings.Repeat("x", 41) },
		"reason":    func(r *providers.RefundRequest) { r.Reason = strings.Repeat("x", 257) },
		"payment":   func(r *providers.RefundRequest) { r.PaymentProviderRef = "pay_X" },
	} {
		r := refundReq()
		mut(r)
		if err := p.ValidateRefund(r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRefundIdempotencyKey(t *testing.T) {
	r := refundReq()
	if k := refundIdempotencyKey(r, "pay_X"); k != "idem-key-0001" {
		t.Fatalf("valid key: %q", k)
	}
	r.IdempotencyKey = "short"
	k1 := refundIdempotencyKey(r, "pay_X")
	if !idempotencyKeyRe.MatchString(k1) || k1 == "short" || k1 != refundIdempotencyKey(r, "pay_X") {
		t.Fatalf("derived from key: %q", k1)
	}
	r.IdempotencyKey = ""
	k2 := refundIdempotencyKey(r, "pay_X")
	if !idempotencyKeyRe.MatchString(k2) || k2 == refundIdempotencyKey(r, "pay_Y") {
		t.Fatalf("derived from reference: %q", k2)
	}
	r.Reference = ""
	if k := refundIdempotencyKey(r, "pay_X"); k != "" {
		t.Fatalf("no key expected, got %q", k)
	}
}

func TestGetRefund(t *testing.T) {
	for raw, want := range map[string]string{"pending": providers.RefundPending, "processed": providers.RefundSucceeded, "failed": providers.RefundFailed} {
		s := newScripted(t, map[string]canned{"GET /v1/refunds/rfnd_FP8QHiV938haTz": {200, strings.Replace(string(fixture(t, "replies/refund_processed.json")), `"status":"processed"`, `"status":"`+raw+`"`, 1), ""}})
		rf, err := testProvider(t, s.srv.URL).GetRefund(context.Background(), doer(), "rfnd_FP8QHiV938haTz")
		if err != nil {
			t.Fatal(err)
		}
		if rf.Status != want || rf.ProviderReference != "rfnd_FP8QHiV938haTz" || rf.Amount != 500100 {
			t.Fatalf("%s: refund = %+v", raw, rf)
		}
	}
	_, err := testProvider(t, "http://127.0.0.1:1").GetRefund(context.Background(), doer(), "../x")
	canonical(t, err, providers.TypeNotFound, "", providers.SentNo)
}
