package fake_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/conformance"
	"github.com/caddy-payments/caddy-payments/providers/fake"
)

const testSecret = "fake-secret-for-tests"

// env is a fake server, a provider pointed at it, and a notification
// receiver that verifies and acknowledges like the gateway does.
type env struct {
	srv      *fake.Server
	api      *httptest.Server
	receiver *httptest.Server
	prov     *fake.Provider
	doer     *providers.HTTPDoer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{srv: fake.NewServer(testSecret)}
	e.srv.SlowDelay = 3 * time.Second
	e.api = httptest.NewServer(e.srv)
	t.Cleanup(e.api.Close)
	prov, err := fake.New(e.api.URL, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	e.prov = prov
	e.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		in := &providers.IncomingNotification{Method: r.Method, Header: r.Header, Query: r.URL.Query(), Body: body}
		if _, err := prov.VerifyNotification(in); err != nil {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		_ = prov.Acknowledge(w)
	}))
	t.Cleanup(e.receiver.Close)
	e.doer = &providers.HTTPDoer{Client: e.api.Client(), Timeout: 5 * time.Second}
	return e
}

var seq atomic.Int64

func (e *env) newPayment() *providers.CreatePayment {
	return &providers.CreatePayment{
		Reference:       fmt.Sprintf("order-%d-%d", time.Now().UnixNano()%1e9, seq.Add(1)),
		Amount:          2500,
		Currency:        "EUR",
		Description:     "conformance",
		Customer:        providers.Customer{Email: "a@example.com", Country: "SE"},
		NotificationURL: e.receiver.URL + "/notifications/fake",
	}
}

// complete posts to the checkout URL the payment's next action names and
// checks the receiver acknowledged every notification with 200 "ok".
func (e *env) complete(t *testing.T, p *providers.Payment, approve bool) []*providers.IncomingNotification {
	t.Helper()
	action := "decline"
	if approve {
		action = "approve"
	}
	resp, err := http.Post(p.NextAction.URL+"?action="+action, "", nil)
	if err != nil {
		t.Fatalf("checkout: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("checkout answered %d", resp.StatusCode)
	}
	var out []*providers.IncomingNotification
	for _, n := range e.srv.NotificationsFor(p.ProviderReference) {
		if n.StatusCode != http.StatusOK || string(n.Reply) != "ok" {
			t.Errorf("receiver answered %d %q to a notification", n.StatusCode, n.Reply)
		}
		out = append(out, n.Incoming())
	}
	return out
}

func TestConformance(t *testing.T) {
	e := newEnv(t)
	conformance.Run(t, conformance.Harness{
		Name:       "fake",
		Provider:   e.prov,
		Doer:       e.doer,
		Secrets:    []string{testSecret},
		NewPayment: e.newPayment,
		NewPayout: func() *providers.CreatePayout {
			return &providers.CreatePayout{
				Reference: fmt.Sprintf("payout-%d", seq.Add(1)), Amount: 900, Currency: "EUR",
				BankAccount: &providers.BankAccount{Country: "SE", IBAN: "SE4550000000058398257466", HolderName: "A Person"},
			}
		},
		Decline:     func(r *providers.CreatePayment) { r.Amount = fake.AmountDecline },
		Garbage:     func(r *providers.CreatePayment) { r.Amount = fake.AmountGarbage },
		Slow:        func(r *providers.CreatePayment) { r.Amount = fake.AmountSlow },
		SlowTimeout: 300 * time.Millisecond,
		Complete:    e.complete,
		Tamper: func(n *providers.IncomingNotification) *providers.IncomingNotification {
			var m map[string]any
			_ = json.Unmarshal(n.Body, &m)
			m["amount"] = 1
			c := *n
			c.Body, _ = json.Marshal(m)
			return &c
		},
		Unsigned: func(n *providers.IncomingNotification) *providers.IncomingNotification {
			c := *n
			c.Header = n.Header.Clone()
			c.Header.Del(fake.SignatureHeader)
			return &c
		},
	})
}

// The signature is plain HMAC-SHA256 over the body, hex-encoded; the
// expected value was computed with `openssl dgst -sha256 -hmac whsec_test`.
func TestSignGolden(t *testing.T) {
	body := []byte(`{"event_id":"fe_1","type":"payment.status","payment_id":"fp_1","reference":"order-1","status":"succeeded","amount":1000,"currency":"EUR"}`)
	const want = "16f933be70ecaaa872c902d15d986deec3e130f4c47f87ebeec02be201d68b4e"
	if got := fake.Sign("whsec_test", body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	p, err := fake.New("http://127.0.0.1:1", "whsec_test")
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.VerifyNotification(&providers.IncomingNotification{
		Method: http.MethodPost, Header: http.Header{fake.SignatureHeader: {want}}, Body: body,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.EventKey != "fe_1" || n.EventType != "payment.succeeded" || n.ProviderRef != "fp_1" ||
		n.Amount != 1000 || n.Currency != "EUR" || n.Trust.Amount == providers.Unsigned || n.Reference != "order-1" {
		t.Fatalf("unexpected notification %+v", n)
	}
	// Uppercase hex is the same MAC and is accepted; a truncated one is not.
	if _, err := p.VerifyNotification(&providers.IncomingNotification{
		Header: http.Header{fake.SignatureHeader: {strings.ToUpper(want)}}, Body: body,
	}); err != nil {
		t.Fatalf("uppercase hex signature: %v", err)
	}
	if _, err := p.VerifyNotification(&providers.IncomingNotification{
		Header: http.Header{fake.SignatureHeader: {want[:62]}}, Body: body,
	}); err == nil {
		t.Fatal("a truncated signature verified")
	}
}

// A resent notification is byte-identical, so it maps to the same event
// key and the gateway can de-duplicate it.
func TestResendSameEventKey(t *testing.T) {
	e := newEnv(t)
	p, err := e.prov.CreatePayment(t.Context(), e.doer, e.newPayment())
	if err != nil {
		t.Fatal(err)
	}
	sent, err := e.srv.Checkout(t.Context(), p.ProviderReference, true)
	if err != nil || len(sent) != 2 {
		t.Fatalf("Checkout: %v, %d notifications", err, len(sent))
	}
	again := e.srv.Resend(t.Context(), sent[1])
	if again.StatusCode != http.StatusOK || !bytes.Equal(again.Body, sent[1].Body) {
		t.Fatalf("resend: %d, same body %v", again.StatusCode, bytes.Equal(again.Body, sent[1].Body))
	}
	a, _ := e.prov.VerifyNotification(sent[1].Incoming())
	b, _ := e.prov.VerifyNotification(again.Incoming())
	if a == nil || b == nil || a.EventKey != b.EventKey {
		t.Fatalf("event keys differ: %+v %+v", a, b)
	}
	if got := len(e.srv.Notifications()); got != 3 {
		t.Fatalf("server recorded %d notifications, want 3", got)
	}
	if _, err := e.srv.Checkout(t.Context(), p.ProviderReference, false); err != fake.ErrNotPending {
		t.Fatalf("second checkout: %v, want ErrNotPending", err)
	}
}

// A wrong API key is the provider refusing our credentials: a provider
// error, sent, not retryable, and the key is not echoed.
func TestWrongAPIKey(t *testing.T) {
	e := newEnv(t)
	wrong, err := fake.New(e.api.URL, "not-the-secret")
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.CreatePayment(t.Context(), e.doer, e.newPayment())
	pe, ok := err.(*providers.Error)
	if !ok || pe.Type != providers.TypeProviderError || pe.RequestSent != providers.SentYes || pe.Retryable {
		t.Fatalf("got %#v", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("not-the-secret")) {
		t.Fatal("the error holds the key")
	}
}

// Refunds are limited to the remaining amount and to succeeded payments.
func TestRefundRules(t *testing.T) {
	e := newEnv(t)
	p, err := e.prov.CreatePayment(t.Context(), e.doer, e.newPayment())
	if err != nil {
		t.Fatal(err)
	}
	req := &providers.RefundRequest{Amount: 100, Currency: "EUR", PaymentProviderRef: p.ProviderReference, PaymentAmount: p.Amount}
	if _, err := e.prov.Refund(t.Context(), e.doer, req); !isType(err, providers.TypeProviderDeclined) {
		t.Fatalf("refund of a pending payment: %v, want provider_declined", err)
	}
	if _, err := e.srv.Checkout(t.Context(), p.ProviderReference, true); err != nil {
		t.Fatal(err)
	}
	req.Amount = 2000
	if _, err := e.prov.Refund(t.Context(), e.doer, req); err != nil {
		t.Fatal(err)
	}
	req.Amount = 501 // 500 left
	if _, err := e.prov.Refund(t.Context(), e.doer, req); !isType(err, providers.TypeProviderDeclined) {
		t.Fatalf("over-refund: %v, want provider_declined", err)
	}
	got, err := e.prov.GetPayment(t.Context(), e.doer, p.ProviderReference)
	if err != nil || got.AmountRefunded != 2000 || got.Status != providers.StatusSucceeded {
		t.Fatalf("after refund: %+v, %v", got, err)
	}
	if err := e.prov.ValidateRefund(&providers.RefundRequest{Amount: 0}); !isField(err, "amount") {
		t.Fatalf("zero refund: %v", err)
	}
}

func TestValidatePayout(t *testing.T) {
	p, _ := fake.New("http://127.0.0.1:1", "s3cret")
	cases := map[string]struct {
		req   providers.CreatePayout
		field string
	}{
		"no bank account": {providers.CreatePayout{Reference: "r", Amount: 1, Currency: "EUR"}, "bank_account"},
		"bad country":     {providers.CreatePayout{Reference: "r", Amount: 1, Currency: "EUR", BankAccount: &providers.BankAccount{Country: "US", IBAN: "x"}}, "bank_account.country"},
		"no iban":         {providers.CreatePayout{Reference: "r", Amount: 1, Currency: "EUR", BankAccount: &providers.BankAccount{Country: "SE"}}, "bank_account.iban"},
		"bad currency":    {providers.CreatePayout{Reference: "r", Amount: 1, Currency: "USD"}, "currency"},
	}
	for name, c := range cases {
		if err := p.ValidatePayout(&c.req); !isField(err, c.field) {
			t.Errorf("%s: %v, want an error on %s", name, err, c.field)
		}
	}
}

func isType(err error, typ string) bool {
	e, ok := err.(*providers.Error)
	return ok && e.Type == typ
}

func isField(err error, field string) bool {
	e, ok := err.(*providers.Error)
	return ok && e.Type == providers.TypeInvalidRequest && e.Field == field
}
