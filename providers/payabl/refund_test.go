package payabl

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

func TestRefundRequestAndReply(t *testing.T) {
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pay/backoffice/payment_refund" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		got, _ = url.ParseQuery(string(b))
		_, _ = w.Write([]byte("transactionid=6905399&transid=6905399&status=0&errormessage=&errmsg=&amount=5.00&price=5.00&currency=EUR&orderid=ORD-1001"))
	}))
	defer srv.Close()
	p := testProvider(t, srv.URL+"/pay/backoffice")
	req := &providers.RefundRequest{Amount: 500, Currency: "EUR", Reference: "RF-1", PaymentProviderRef: "6905370", PaymentAmount: 1999}
	rf, err := p.Refund(context.Background(), &providers.HTTPDoer{}, req)
	if err != nil {
		t.Fatal(err)
	}
	if rf.Status != providers.RefundSucceeded || rf.ProviderReference != "6905399" || rf.Amount != 500 || rf.Reference != "RF-1" || !rf.Test {
		t.Fatalf("refund = %+v", rf)
	}
	want := url.Values{"transactionid": {"6905370"}, "amount": {"5.00"}, "currency": {"EUR"}, "external_id": {"RF-1"}, "merchantid": {"gateway_test"}}
	sig := got.Get("signature")
	got.Del("signature")
	if got.Encode() != want.Encode() || sig != signature(want, "b185") {
		t.Fatalf("sent %v (sig %s)", got, sig)
	}
}

func TestValidateRefund(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	base := providers.RefundRequest{Amount: 500, Currency: "EUR", PaymentProviderRef: "6905370", PaymentAmount: 1999}
	for name, c := range map[string]struct {
		mut   func(*providers.RefundRequest)
		field string
	}{
		"zero":      {func(r *providers.RefundRequest) { r.Amount = 0 }, "amount"},
		"negative":  {func(r *providers.RefundRequest) { r.Amount = -1 }, "amount"},
		"too much":  {func(r *providers.RefundRequest) { r.Amount = 2000 }, "amount"},
		"currency":  {func(r *providers.RefundRequest) { r.Currency = "USD" }, "currency"},
		"bad ref":   {func(r *providers.RefundRequest) { r.PaymentProviderRef = "abc" }, "payment_id"},
		"reference": {func(r *providers.RefundRequest) { r.Reference = "Ω" }, "reference"},
	} {
		r := base
		c.mut(&r)
		if err := p.ValidateRefund(&r); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			canonical(t, err, providers.TypeInvalidRequest, c.field)
		}
	}
	if err := p.ValidateRefund(&base); err != nil {
		t.Fatal(err)
	}
}

func TestRefundReplyMapping(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	req := &providers.RefundRequest{Amount: 500, Currency: "EUR", PaymentProviderRef: "1"}
	pend, err := p.refundFromReply(req, []byte("transactionid=2&status=2000&errormessage=pending"))
	if err != nil || pend.Status != providers.RefundPending {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	_, err = p.refundFromReply(req, []byte("status=-5007&errormessage=Refund+aborted"))
	canonical(t, err, providers.TypeProviderDeclined, "")
	_, err = p.refundFromReply(req, []byte("status=0&errormessage="))
	canonical(t, err, providers.TypeProviderError, "")
}

func TestGetRefundAndPayoutFromDiagnose(t *testing.T) {
	xml := func(typ, code string) string {
		return `<?xml version="1.0" encoding="ISO-8859-1"?><response><process><error_message/><status>0</status></process>` +
			`<transaction><amount>5.00</amount><creation_date>22.11.2026 09:00:00</creation_date><currency>EUR</currency>` +
			`<error_code>` + code + `</error_code><order_id>O</order_id><type>` + typ + `</type><transaction_id>77</transaction_id></transaction></response>`
	}
	var got url.Values
	cases := []struct {
		typ, code, want string
		refund          bool
	}{
		{"refund", "0", providers.RefundSucceeded, true},
		{"refund", "2000", providers.RefundPending, true},
		{"refund", "-5007", providers.RefundFailed, true},
		{"cft", "0", providers.PayoutSucceeded, false},
		{"cft", "2000", providers.PayoutProcessing, false},
		{"cft", "-6209", providers.PayoutFailed, false},
	}
	for _, c := range cases {
		srv := diagServer(t, xml(c.typ, c.code), &got)
		p := testProvider(t, srv.URL+"/pay/backoffice")
		if c.refund {
			rf, err := p.GetRefund(context.Background(), &providers.HTTPDoer{}, "77")
			if err != nil || rf.Status != c.want || rf.Amount != 500 {
				t.Errorf("refund %s: %+v %v", c.code, rf, err)
			}
		} else {
			po, err := p.GetPayout(context.Background(), &providers.HTTPDoer{}, "77")
			if err != nil || po.Status != c.want || po.Amount != 500 {
				t.Errorf("payout %s: %+v %v", c.code, po, err)
			}
		}
		if got.Get("type") != "tx" || got.Get("transactionid") != "77" {
			t.Errorf("query = %v", got)
		}
	}
	// The id names the payment itself: payabl cannot report the refund.
	srv := diagServer(t, xml("capture", "0"), &got)
	p := testProvider(t, srv.URL+"/pay/backoffice")
	_, err := p.GetRefund(context.Background(), &providers.HTTPDoer{}, "77")
	canonical(t, err, providers.TypeNotSupported, "")
	_, err = p.GetPayout(context.Background(), &providers.HTTPDoer{}, "77")
	canonical(t, err, providers.TypeNotFound, "")
	// And a refund id is not a payment.
	srv = diagServer(t, xml("refund", "0"), &got)
	p = testProvider(t, srv.URL+"/pay/backoffice")
	_, err = p.GetPayment(context.Background(), &providers.HTTPDoer{}, "77")
	canonical(t, err, providers.TypeNotFound, "")
}
