package payabl

import (
	"context"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// A tx_diagnose row that does not say what kind of transaction it is (the
// documented example has no <type>) is never taken for a refund or a
// payout: otherwise a payment's id, named in a forged refund or cft
// notification, would report the whole payment as a succeeded refund or
// payout (issue 10, adversarial review).
func TestUntypedDiagnoseRowIsNoRefundOrPayout(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	row := []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>
<response><process><error_message/><process_time>13.02.2012 16:41:19</process_time><status>0</status></process>
<transaction><amount>19.99</amount><currency>EUR</currency><error_code>0</error_code><order_id>ORD-1</order_id><transaction_id>6905370</transaction_id></transaction></response>`)
	ctx := context.Background()
	if rf, err := p.GetRefund(ctx, replyDoer{row}, "6905370"); err == nil {
		t.Fatalf("an untyped row became a refund: %+v", rf)
	} else if e := providers.AsError(err); e.Type != providers.TypeNotSupported && e.Type != providers.TypeNotFound {
		t.Fatalf("refund: %v", err)
	}
	if po, err := p.GetPayout(ctx, replyDoer{row}, "6905370"); err == nil {
		t.Fatalf("an untyped row became a payout: %+v", po)
	} else if e := providers.AsError(err); e.Type != providers.TypeNotFound {
		t.Fatalf("payout: %v", err)
	}
}
