package paysage

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Benchmarks of the reply parsers: transactionReply (the envelope and
// its transaction, checked) on PaySage's seed response and a refund
// reply, replyError's input on a 422, and FindPayment on a tracking_id
// list over an in-memory Doer (request building included). The same
// benchmarks ran against the encoding/json parsers for the numbers in
// the commit message.

func benchFile(b *testing.B, path ...string) []byte {
	b.Helper()
	body, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, path...)...))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkReplyTransaction(b *testing.B) {
	for _, c := range []struct{ name, file string }{
		{"create", "seed/response_example.json"},
		{"refund", "replies/refund_successful.json"},
	} {
		body := benchFile(b, c.file)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := transactionReply(&providers.Reply{StatusCode: 200, Body: body}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	body := benchFile(b, "replies", "error_422_customer_fields.json")
	b.Run("error_422", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := transactionReply(&providers.Reply{StatusCode: 422, Body: body}); err == nil {
				b.Fatal("no error")
			}
		}
	})
}

func BenchmarkReplyFindPayment(b *testing.B) {
	d := fzDoer{200, benchFile(b, "replies", "tracking_id_list.json")}
	p := fzProvider(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.FindPayment(ctx, d, "ORD-1001"); err != nil {
			b.Fatal(err)
		}
	}
}
