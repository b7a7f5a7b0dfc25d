package razorpay

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
)

// Benchmarks of the reply parsers: each reply body read into its entity
// by decodeEntity (gjson) and, for comparison, by encoding/json (what call
// used before, and the reference of reply_diff_test.go); and GetPayment
// end to end over an in-memory Doer (two replies, request building
// included).

func benchReplies() map[string]struct {
	body []byte
	out  func() any
} {
	return map[string]struct {
		body []byte
		out  func() any
	}{
		"order":    {[]byte(orderBody), func() any { return new(order) }},
		"payments": {[]byte(payments(attempt("pay_B2", "failed", 101, 0), attempt("pay_A1", "captured", 100, 0))), func() any { return new(collection[payment]) }},
		"orders":   {[]byte(`{"entity":"collection","count":1,"items":[` + orderBody + `]}`), func() any { return new(collection[order]) }},
		"refund": {[]byte(`{"id":"rfnd_FP8QHiV938haTz","entity":"refund","amount":500,"currency":"EUR","payment_id":"pay_29QQoUBi66xm2f","notes":{"reason":"r"},"receipt":"RF-1","acquirer_data":{"arn":null},"created_at":1597078866,"batch_id":null,"status":"processed","speed_processed":"normal","speed_requested":"normal"}`),
			func() any { return new(refund) }},
		"error": {[]byte(`{"error":{"code":"BAD_REQUEST_ERROR","description":"The amount must be atleast INR 1.00","field":"amount","source":"business","step":"payment_initiation","reason":"input_validation_failed","metadata":{}}}`),
			func() any { return new(envelope) }},
	}
}

func BenchmarkReplyParse(b *testing.B) {
	for name, r := range benchReplies() {
		b.Run(name+"/gjson", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !decodeEntity(r.body, r.out()) {
					b.Fatal("not decoded")
				}
			}
		})
		b.Run(name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := json.Unmarshal(r.body, r.out()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReplyGetPayment(b *testing.B) {
	orderReply := []byte(orderBody)
	paymentsReply := []byte(payments(attempt("pay_B2", "failed", 101, 0), attempt("pay_A1", "captured", 100, 0)))
	d := &memDoer{answer: func(method, path string) (int, []byte) {
		if path == "/v1/orders/"+fuzzOrderID {
			return http.StatusOK, orderReply
		}
		return http.StatusOK, paymentsReply
	}}
	p := fuzzProvider()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d.calls = d.calls[:0]
		if _, err := p.GetPayment(ctx, d, fuzzOrderID); err != nil {
			b.Fatal(err)
		}
	}
}
