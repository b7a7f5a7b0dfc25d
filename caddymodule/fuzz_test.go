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
