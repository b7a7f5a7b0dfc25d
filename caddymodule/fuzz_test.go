package caddymodule

import (
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// FuzzDecodePayment: the canonical request parser never panics, and
// whatever it accepts is a valid request (positive amount, known currency).
func FuzzDecodePayment(f *testing.F) {
	f.Add([]byte(validPayment))
	f.Add([]byte(`{"reference":"R","amount":1,"currency":"JPY","return_url":"https://a.example"}`))
	f.Add([]byte(`{"amount":19.99}`))
	f.Add([]byte(`{"customer":{"address":{"zip":1}}}`))
	f.Add([]byte(`[{"a":1}]`))
	f.Add([]byte(`{"amount":1e400}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req providers.CreatePayment
		if e := decodeStrict(body, &req); e != nil {
			if e.Type != providers.TypeInvalidRequest || e.RequestSent != providers.SentNo {
				t.Fatalf("decode error of the wrong kind: %+v", e)
			}
			return
		}
		if e := validatePayment(&req); e == nil {
			if req.Amount <= 0 || !providers.ValidCurrency(req.Currency) || req.Reference == "" {
				t.Fatalf("accepted an invalid request: %+v", req)
			}
		}
	})
}

// FuzzDecodeRefundAndPayout: the refund and payout bodies go through the
// same strict parser; it never panics, every refusal is a canonical
// invalid_request that names a field (or the body) and sent nothing, and
// a payout it accepts and validates has a positive amount and a known
// currency.
func FuzzDecodeRefundAndPayout(f *testing.F) {
	f.Add([]byte(`{"amount":500,"reason":"damaged","reference":"RF-1"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"amount":19.99}`))
	f.Add([]byte(`{"amount":"500"}`))
	f.Add([]byte(`{"amount":500,"colour":"red"}`))
	f.Add([]byte(`{"provider":"payabl","reference":"PO-1","amount":1000,"currency":"EUR","payment_id":"pay_x"}`))
	f.Add([]byte(`{"provider":"payabl","reference":"PO-2","amount":1000,"currency":"EUR",` +
		`"bank_account":{"holder_name":"Jane Doe","iban":"DE89370400440532013000","country":"DE"}}`))
	f.Add([]byte(`{"amount":-1,"currency":"eur"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(what string, e *providers.Error) {
			if e.Type != providers.TypeInvalidRequest || e.RequestSent != providers.SentNo || e.Message == "" {
				t.Fatalf("%s: refusal of the wrong kind: %+v", what, e)
			}
		}
		var rf refundBody
		if e := decodeStrict(body, &rf); e != nil {
			check("refund", e)
		}
		var po providers.CreatePayout
		if e := decodeStrict(body, &po); e != nil {
			check("payout", e)
			return
		}
		if e := validatePayout(&po); e != nil {
			check("payout validation", e)
			if e.Field == "" {
				t.Fatalf("payout validation names no field: %+v", e)
			}
			return
		}
		if po.Amount <= 0 || !providers.ValidCurrency(po.Currency) || po.Reference == "" {
			t.Fatalf("accepted an invalid payout: %+v", po)
		}
	})
}
