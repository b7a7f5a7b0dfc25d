package payabl

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// The reference's tx_diagnose example parses: ISO-8859-1 declaration, the
// leading space of " 6905370" trimmed, amount in minor units.
func TestParseDiagnoseReferenceExample(t *testing.T) {
	body, err := os.ReadFile("testdata/diagnose_reference.xml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseDiagnose(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Transactions) != 1 {
		t.Fatalf("transactions = %d", len(r.Transactions))
	}
	tx := r.Transactions[0]
	if tx.TransactionID != "6905370" || tx.OrderID != "1234-123456789-4321" {
		t.Fatalf("tx = %+v", tx)
	}
	a, cur, err := tx.amount()
	if err != nil || a != 123 || cur != "EUR" {
		t.Fatalf("amount = %d %s %v", a, cur, err)
	}
	// No error_code in this example: the status is unknown, not guessed.
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	pay, err := p.paymentFromTx(&tx)
	if err != nil || pay.Status != providers.StatusUnknown || pay.Amount != 123 {
		t.Fatalf("payment = %+v, %v", pay, err)
	}
}

func TestParseDiagnoseLatin1AndPick(t *testing.T) {
	body, err := os.ReadFile("testdata/diagnose_orderid.xml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseDiagnose(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Transactions[0].Custom1; got != "Bestellung für Jörg" {
		t.Fatalf("custom1 = %q", got)
	}
	// Several transactions for one orderid: the most recent payment, not
	// the refund.
	tx := pickPayment(r.Transactions, "ORD-Å")
	if tx == nil || tx.TransactionID != "104579002" {
		t.Fatalf("picked %+v", tx)
	}
	if pickPayment(r.Transactions, "other") != nil {
		t.Fatal("picked a transaction of another orderid")
	}
}

func TestDiagnoseStatusMapping(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	for code, want := range map[string]providers.Status{
		"0": providers.StatusProcessing, "2000": providers.StatusRequiresAction,
		"-5003": providers.StatusFailed, "-1315": providers.StatusFailed,
	} {
		pay, err := p.paymentFromTx(&diagTx{TransactionID: "1", Amount: "10", Currency: "SEK", ErrorCode: code})
		if err != nil || pay.Status != want || pay.Amount != 1000 || pay.ProviderStatus != code {
			t.Errorf("error_code %s: %+v %v", code, pay, err)
		}
		// Only 0 is consistent with success, and it cannot establish it.
		if wantConfirms := map[bool]providers.Status{true: providers.StatusSucceeded}[code == "0"]; err == nil && pay.Confirms != wantConfirms {
			t.Errorf("error_code %s: confirms %q", code, pay.Confirms)
		}
	}
	for _, bad := range []diagTx{
		{TransactionID: "1", Amount: "10.5.1", Currency: "EUR", ErrorCode: "0"},
		{TransactionID: "1", Amount: "1e3", Currency: "EUR", ErrorCode: "0"},
		{TransactionID: "1", Amount: "10", Currency: "", ErrorCode: "0"},
		{TransactionID: "1", Amount: "10", Currency: "EUR", ErrorCode: "ok"},
	} {
		_, err := p.paymentFromTx(&bad)
		canonical(t, err, providers.TypeProviderError, "")
	}
	for _, body := range []string{"", "<html>", "transactionid=1&status=0", "<response><process><status>x</status></process></response>",
		`<?xml version="1.0" encoding="KOI8-R"?><response/>`} {
		_, err := parseDiagnose([]byte(body))
		e := canonical(t, err, providers.TypeProviderError, "")
		if e.Code != "invalid_provider_reply" {
			t.Errorf("%q: %+v", body, e)
		}
	}
	// A failed query is a provider error, keeping payabl's code.
	_, err := parseDiagnose([]byte(`<response><process><error_message>Unknown error</error_message><status>-999</status></process></response>`))
	e := canonical(t, err, providers.TypeProviderError, "")
	if e.ProviderCode == nil || *e.ProviderCode != "-999" {
		t.Errorf("-999: %+v", e)
	}
}

// diagServer is a minimal tx_diagnose endpoint that records the request
// and answers body.
func diagServer(t *testing.T, body string, got *url.Values) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got, _ = url.ParseQuery(string(b))
		if r.URL.Path != "/pay/backoffice/tx_diagnose" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml; charset=ISO-8859-1")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFindPaymentWindowAndNotFound(t *testing.T) {
	body, _ := os.ReadFile("testdata/diagnose_orderid.xml")
	var got url.Values
	srv := diagServer(t, string(body), &got)
	p := testProvider(t, srv.URL+"/pay/backoffice")
	pay, err := p.FindPayment(context.Background(), &providers.HTTPDoer{}, "ORD-Å")
	if err != nil {
		t.Fatal(err)
	}
	if pay.ProviderReference != "104579002" || pay.Status != providers.StatusProcessing || pay.Confirms != providers.StatusSucceeded || pay.Reference != "ORD-Å" ||
		!pay.CreatedAt.Equal(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("payment = %+v", pay)
	}
	if got.Get("type") != "orderid" || got.Get("start_date") != "22.10.2026" || got.Get("end_date") != "22.11.2026" ||
		got.Get("merchantid") != "gateway_test" || len(got.Get("signature")) != 40 {
		t.Fatalf("query = %v", got)
	}
	// payabl's "nothing matched" reply is NotFound; a signature error is not.
	srv2 := diagServer(t, `<response><process><error_message>Found wrong or missing fields: no transaction matches</error_message><status>-6000</status></process></response>`, &got)
	p2 := testProvider(t, srv2.URL+"/pay/backoffice")
	_, err = p2.FindPayment(context.Background(), &providers.HTTPDoer{}, "ORD-X")
	canonical(t, err, providers.TypeNotFound, "")
	_, err = p2.GetPayment(context.Background(), &providers.HTTPDoer{}, "123")
	canonical(t, err, providers.TypeNotFound, "")
	// A ref that cannot be a payabl id is not sent at all.
	got = nil
	_, err = p2.GetPayment(context.Background(), &providers.HTTPDoer{}, "abc")
	canonical(t, err, providers.TypeNotFound, "")
	if got != nil {
		t.Fatal("an impossible ref was sent to payabl")
	}
	srv3 := diagServer(t, `<response><process><error_message>Unknown error</error_message><status>-999</status></process></response>`, &got)
	p3 := testProvider(t, srv3.URL+"/pay/backoffice")
	_, err = p3.GetPayment(context.Background(), &providers.HTTPDoer{}, "123")
	canonical(t, err, providers.TypeProviderError, "")
}
