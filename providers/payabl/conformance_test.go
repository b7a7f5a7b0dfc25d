package payabl

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/conformance"
	"github.com/caddy-payments/caddy-payments/sandbox"
)

// A secret with characters that can never occur in ids or hex tokens, so
// the suite's secret scan cannot match by accident.
const cfSecret = "cf-payabl-secret-QZ!"

// collector is the notification_url: it records every notification
// (raw) by transactionid and acknowledges the way payabl expects.
type collector struct {
	mu    sync.Mutex
	notes map[string][]*providers.IncomingNotification
	got   chan struct{}
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	in := &providers.IncomingNotification{Method: r.Method, Header: r.Header.Clone(), Query: r.URL.Query(), Body: body}
	c.mu.Lock()
	c.notes[form.Get("transactionid")] = append(c.notes[form.Get("transactionid")], in)
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
	_ = (&Provider{}).Acknowledge(w)
}

// wait returns the notifications for id once done says they are complete.
func (c *collector) wait(t *testing.T, id string, done func([]*providers.IncomingNotification) bool) []*providers.IncomingNotification {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		list := append([]*providers.IncomingNotification(nil), c.notes[id]...)
		c.mu.Unlock()
		if done(list) {
			return list
		}
		select {
		case <-c.got:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for the notifications of %s (have %d)", id, len(list))
		}
	}
}

// newSandbox hosts the embedded payabl sandbox on loopback.
func newSandbox(t *testing.T) *httptest.Server {
	return newSandboxWith(t, "", 0)
}

// newSandboxWith hosts the sandbox with a tx_diagnose reading for accepted
// payments ("0", "2000", "" default) and a delay between the two Trustly
// notifications.
func newSandboxWith(t *testing.T, accepted string, notifyDelay time.Duration) *httptest.Server {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h := &sandbox.Handler{
		SlowDelay:   caddy.Duration(4 * time.Second),
		NotifyDelay: caddy.Duration(notifyDelay),
		Payabl:      &sandbox.PayablConfig{MerchantID: "conformance_test", Secret: cfSecret, DiagnoseAccepted: accepted},
	}
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("sandbox Provision: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			http.NotFound(w, r)
			return nil
		})
		if err := h.ServeHTTP(w, r, next); err != nil {
			http.Error(w, "sandbox error", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestConformance(t *testing.T) {
	sb := newSandbox(t)
	notes := &collector{notes: map[string][]*providers.IncomingNotification{}, got: make(chan struct{}, 1)}
	hook := httptest.NewServer(notes)
	t.Cleanup(hook.Close)

	p := &Provider{MerchantID: "conformance_test", Secret: cfSecret, Endpoint: sb.URL + "/sandbox/payabl/pay/backoffice"}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}

	var n atomic.Int64
	ref := func(prefix string) string {
		return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, n.Add(1))
	}
	conformance.Run(t, conformance.Harness{
		Name:     "payabl",
		Provider: p,
		Doer:     &providers.HTTPDoer{Client: &http.Client{}, Timeout: 10 * time.Second},
		Secrets:  []string{cfSecret},
		NewPayment: func() *providers.CreatePayment {
			return &providers.CreatePayment{
				Reference: ref("cf"), Amount: 1999, Currency: "EUR", Description: "conformance",
				Customer: providers.Customer{FirstName: "Jane", LastName: "Doe", Email: "jane@example.com",
					Country: "SE", IP: "203.0.113.7"},
				Language: "en", ReturnURL: "https://shop.example/return",
				NotificationURL: hook.URL + "/notifications/payabl",
			}
		},
		NewPayout: func() *providers.CreatePayout {
			return &providers.CreatePayout{
				Reference: ref("po"), Amount: 999, Currency: "EUR",
				BankAccount:     &providers.BankAccount{Country: "FI", IBAN: "FI2112345600000785"},
				Customer:        &providers.Customer{Email: "jane@example.com", BirthDate: "1990-02-08"},
				NotificationURL: hook.URL + "/notifications/payabl",
			}
		},
		Decline:     func(r *providers.CreatePayment) { r.Amount = 1313 },
		Garbage:     func(r *providers.CreatePayment) { r.Amount = 1111 },
		Slow:        func(r *providers.CreatePayment) { r.Amount = 1234 },
		SlowTimeout: 500 * time.Millisecond,
		Complete: func(t *testing.T, pay *providers.Payment, approve bool) []*providers.IncomingNotification {
			action := "decline"
			if approve {
				action = "approve"
			}
			resp, err := http.Post(sb.URL+"/sandbox/payabl/_sandbox/payments/"+pay.ProviderReference+"/"+action, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sandbox %s: HTTP %d", action, resp.StatusCode)
			}
			want := 1
			if approve {
				want = 2 // not_credited_yet, then credited
			}
			return notes.wait(t, pay.ProviderReference, func(l []*providers.IncomingNotification) bool { return len(l) >= want })
		},
		Tamper: func(in *providers.IncomingNotification) *providers.IncomingNotification {
			form, _ := url.ParseQuery(string(in.Body))
			if form.Get("errorcode") == "0" {
				form.Set("errorcode", "-5003")
			} else {
				form.Set("errorcode", "0")
			}
			out := *in
			out.Body = []byte(form.Encode())
			return &out
		},
		Unsigned: func(in *providers.IncomingNotification) *providers.IncomingNotification {
			form, _ := url.ParseQuery(string(in.Body))
			form.Del("security")
			out := *in
			out.Body = []byte(form.Encode())
			return &out
		},
	})
}

// The sandbox's failed-payout notification (magic 66.66) carries payabl's
// undocumented 40-hex security: it is accepted only as Untrusted, so the
// host fetches the payout itself.
func TestSandboxFailedPayoutIsUntrusted(t *testing.T) {
	sb := newSandbox(t)
	notes := &collector{notes: map[string][]*providers.IncomingNotification{}, got: make(chan struct{}, 1)}
	hook := httptest.NewServer(notes)
	t.Cleanup(hook.Close)
	p := &Provider{MerchantID: "conformance_test", Secret: cfSecret, Endpoint: sb.URL + "/sandbox/payabl/pay/backoffice"}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	po, err := p.CreatePayout(context.Background(), &providers.HTTPDoer{}, &providers.CreatePayout{
		Reference: "po-magic", Amount: 6666, Currency: "EUR",
		BankAccount:     &providers.BankAccount{Country: "SE", BankNumber: "8327", AccountNumber: "9123456789"},
		NotificationURL: hook.URL + "/notifications/payabl",
	})
	if err != nil {
		t.Fatal(err)
	}
	if po.Status != providers.PayoutProcessing {
		t.Fatalf("payout = %+v", po)
	}
	in := notes.wait(t, po.ProviderReference, func(l []*providers.IncomingNotification) bool { return len(l) >= 1 })[0]
	n, err := p.VerifyNotification(in)
	if err != nil {
		t.Fatal(err)
	}
	if n.Trust.Object != providers.Unsigned || n.Object != "payout" || n.EventType != "payout.failed" || n.ProviderRef != po.ProviderReference {
		t.Fatalf("notification = %+v", n)
	}
}
