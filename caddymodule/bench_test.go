//go:build unix

package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/internal/benchcpu"
	"github.com/caddy-payments/caddy-payments/providers"
)

// Benchmarks of the host's per-request transforms (issue 11, item 6):
//
//	go test -run '^$' -bench . -benchtime 2000x ./caddymodule/
//
// They run in memory (no Caddy, no network); docs/performance.md keeps
// the latest numbers.

// BenchmarkDecodeValidatePayment is POST /payments before any provider is
// involved: the strict two-pass decode of PRODUCT.md's create-payment
// example and the canonical validation.
func BenchmarkDecodeValidatePayment(b *testing.B) {
	body := []byte(validPayment)
	run := func() *providers.CreatePayment {
		var req providers.CreatePayment
		if e := decodeStrict(body, &req); e != nil {
			b.Fatal(e)
		}
		if e := validatePayment(&req); e != nil {
			b.Fatal(e)
		}
		return &req
	}
	if req := run(); req.Amount != 1999 || req.Customer.Address == nil || req.Metadata["cart"] != "c-9" {
		b.Fatalf("decoded wrongly: %+v", req)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	stop := benchcpu.PerOp(b)
	for i := 0; i < b.N; i++ {
		run()
	}
	stop()
}

// benchEvent is a payment.succeeded event as the gateway forwards it (with
// the provider's own fields), encoded once: what signStandardWebhooks signs.
func benchEvent(b *testing.B) []byte {
	b.Helper()
	body, err := json.Marshal(Event{
		ID: "evt_6f1c2d9a0b7e4c55a1d3e8f2b4c6a7d9", Type: "payment.succeeded",
		CreatedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), Provider: "payabl",
		Data: &providers.Payment{
			ID: "pay_2b9f6c1e8a7d4f3b", Object: "payment", Provider: "payabl", ProviderReference: "104579097",
			Reference: "ORD-1001", Amount: 1999, Currency: "EUR", Status: providers.StatusSucceeded,
			ProviderStatus: "0", Test: true, CreatedAt: time.Date(2026, 11, 22, 9, 58, 0, 0, time.UTC),
		},
		ProviderEvent: json.RawMessage(`{"errorcode":"0","timestamp":"1660132695","transactionid":"104579097","type":"capture",` +
			`"unsigned":{"account_holder":"Erik Lindström","account_number":"****0279","amount":"19.99","bank_country":"SWEDEN",` +
			`"bank_name":"Nordea","orderid":"ORD-1001","payment_state":"credited"}}`),
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkSignStandardWebhooks signs one forwarded event: with one key
// (the usual case) and with two (during a forward-secret rotation).
func BenchmarkSignStandardWebhooks(b *testing.B) {
	body := benchEvent(b)
	keys := [][]byte{[]byte("whsec-current-0123456789abcdef0123"), []byte("whsec-previous-0123456789abcdef012")}
	const id = "evt_6f1c2d9a0b7e4c55a1d3e8f2b4c6a7d9"
	const ts = int64(1795255200)
	for _, n := range []int{1, 2} {
		b.Run(map[int]string{1: "keys=1", 2: "keys=2"}[n], func(b *testing.B) {
			k := keys[:n]
			if sig := signStandardWebhooks(k, id, ts, body); strings.Count(sig, "v1,") != n {
				b.Fatalf("signature header = %q", sig)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			stop := benchcpu.PerOp(b)
			for i := 0; i < b.N; i++ {
				signStandardWebhooks(k, id, ts, body)
			}
			stop()
		})
	}
}
