package paysage

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

const seedUID = "d210921d-092e-4a04-b8b7-add19669e234"

func TestGetPayment(t *testing.T) {
	s := newStub(t, 200, seedResponse(t))
	p := newProvider(t, s.srv.URL)
	pay, err := p.GetPayment(context.Background(), doer, seedUID)
	if err != nil {
		t.Fatal(err)
	}
	got := s.last(t)
	if got.Method != http.MethodGet || got.Path != "/beyag/transactions/"+seedUID || len(got.Body) != 0 {
		t.Fatalf("%s %s %q", got.Method, got.Path, got.Body)
	}
	if got.Header.Get("Content-Type") != "" || got.Header.Get("Authorization") == "" {
		t.Fatalf("headers %v", got.Header)
	}
	if pay.ProviderReference != seedUID || pay.Status != providers.StatusRequiresAction || pay.Amount != 500 ||
		pay.NextAction == nil || !pay.Test || pay.Reference != "" {
		t.Fatalf("%+v", pay)
	}

	// Another uid in the reply is not this payment.
	if _, err := p.GetPayment(context.Background(), doer, "aaaaaaaa-092e-4a04-b8b7-add19669e234"); err == nil {
		t.Fatal("a reply about another uid was accepted")
	}
}

func TestGetPaymentNotFound(t *testing.T) {
	s := newStub(t, 404, []byte(`{"message":"Not found","errors":{"base":["Not found"]}}`))
	p := newProvider(t, s.srv.URL)
	_, err := p.GetPayment(context.Background(), doer, seedUID)
	canonical(t, err, providers.TypeNotFound, "")
	n := s.count()
	for _, bad := range []string{"", "../payments", "a b", "x?y=1"} {
		_, err := p.GetPayment(context.Background(), doer, bad)
		canonical(t, err, providers.TypeNotFound, "")
	}
	if s.count() != n {
		t.Fatal("an impossible uid was sent to PaySage")
	}

	// A refund uid is not a payment.
	s2 := newStub(t, 200, readFile(t, "replies/refund_successful.json"))
	_, err = newProvider(t, s2.srv.URL).GetPayment(context.Background(), doer, "9e1a4c2b-54f7-4a8e-9d0e-3b1f2c6d7e80")
	canonical(t, err, providers.TypeNotFound, "")
}

func TestStatusMapping(t *testing.T) {
	for in, want := range map[string]providers.Status{
		"pending": providers.StatusRequiresAction, "incomplete": providers.StatusRequiresAction, "initial": providers.StatusRequiresAction,
		"successful": providers.StatusSucceeded, "failed": providers.StatusFailed, "error": providers.StatusFailed,
		"expired": providers.StatusExpired, "deleted": providers.StatusCancelled, "refunded": providers.StatusUnknown, "": providers.StatusUnknown,
	} {
		if got := paymentStatus(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"successful": providers.RefundSucceeded, "pending": providers.RefundPending, "failed": providers.RefundFailed,
		"error": providers.RefundFailed, "expired": providers.RefundFailed, "whatever": "",
	} {
		if got := refundStatus(in); got != want {
			t.Errorf("refund %q → %q, want %q", in, got, want)
		}
	}
}

// The lookup lists several transactions: a refund and an entry of a
// ';'-joined tracking_id are skipped, the newest payment wins.
func TestFindPayment(t *testing.T) {
	s := newStub(t, 200, readFile(t, "replies/tracking_id_list.json"))
	p := newProvider(t, s.srv.URL)
	pay, err := p.FindPayment(context.Background(), doer, "ORD-1001")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.last(t); got.Method != http.MethodGet || got.Path != "/beyag/transactions/tracking_id/ORD-1001" {
		t.Fatalf("%s %s", got.Method, got.Path)
	}
	if pay.ProviderReference != "22222222-2222-4222-8222-222222222222" || pay.Status != providers.StatusSucceeded || pay.Reference != "ORD-1001" {
		t.Fatalf("%+v", pay)
	}

	for name, body := range map[string]string{"empty list": `{"transactions":[]}`, "only refunds": `{"transactions":[{"uid":"u1","type":"refund","status":"successful","amount":1,"currency":"EUR","tracking_id":"ORD-9"}]}`} {
		s := newStub(t, 200, []byte(body))
		_, err := newProvider(t, s.srv.URL).FindPayment(context.Background(), doer, "ORD-9")
		if e := canonical(t, err, providers.TypeNotFound, ""); e == nil {
			t.Fatal(name)
		}
	}
	s404 := newStub(t, 404, []byte(`{"message":"Not found"}`))
	_, err = newProvider(t, s404.srv.URL).FindPayment(context.Background(), doer, "ORD-9")
	canonical(t, err, providers.TypeNotFound, "")

	_, err = p.FindPayment(context.Background(), doer, "a/b")
	canonical(t, err, providers.TypeInvalidRequest, "reference")
}

func TestVerifyReturn(t *testing.T) {
	s := newStub(t, 200, readFile(t, "replies/tracking_id_list.json"))
	p := newProvider(t, s.srv.URL)
	in := &providers.IncomingNotification{Method: "GET", Query: map[string][]string{"reference": {"ORD-1001"}}}
	ref, ok, err := p.VerifyReturn(context.Background(), doer, in)
	if err != nil || ref != "22222222-2222-4222-8222-222222222222" || !ok {
		t.Fatalf("%q %v %v", ref, ok, err)
	}
	if s.count() != 1 || s.last(t).Path != "/beyag/transactions/tracking_id/ORD-1001" {
		t.Fatalf("%d calls, last %s", s.count(), s.last(t).Path)
	}

	// The uid and status the browser brings (beGateway appends them, and
	// a customer can edit them) are ignored, in the query and in a POST
	// body: the payment is the one of the gateway's reference, fetched
	// once, and its status is the fetch's.
	tx := `{"transactions":[{"uid":"` + seedUID + `","type":"payment","status":"failed","amount":500,"currency":"EUR","tracking_id":"X"}]}`
	s2 := newStub(t, 200, []byte(tx))
	p2 := newProvider(t, s2.srv.URL)
	in = &providers.IncomingNotification{Method: "POST", Body: []byte("uid=22222222-2222-4222-8222-222222222222&status=successful"),
		Query: map[string][]string{"uid": {"22222222-2222-4222-8222-222222222222"}, "status": {"successful"}, "reference": {"X"}}}
	ref, ok, err = p2.VerifyReturn(context.Background(), doer, in)
	if err != nil || ref != seedUID || ok {
		t.Fatalf("%q %v %v", ref, ok, err)
	}
	if s2.count() != 1 || s2.last(t).Path != "/beyag/transactions/tracking_id/X" {
		t.Fatalf("%d calls, last %s: not fetched by the gateway's reference", s2.count(), s2.last(t).Path)
	}

	// No reference, several, or one PaySage could not have: refused
	// without a call.
	for _, q := range []map[string][]string{
		nil, {"uid": {seedUID}}, {"reference": {"X", "Y"}}, {"reference": {"a/b"}},
	} {
		_, _, err = p2.VerifyReturn(context.Background(), doer, &providers.IncomingNotification{Method: "GET", Query: q})
		if !errors.Is(err, providers.ErrUnauthenticated) {
			t.Errorf("%v: %v", q, err)
		}
	}
	if s2.count() != 1 {
		t.Fatalf("a refused return called PaySage (%d calls)", s2.count())
	}
}
