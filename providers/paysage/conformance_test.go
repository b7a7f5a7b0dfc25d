package paysage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// collector is the notification_url: it records every webhook (raw) by
// transaction uid and acknowledges the way PaySage expects.
type collector struct {
	mu    sync.Mutex
	notes map[string][]*providers.IncomingNotification
	got   chan struct{}
}

func newCollector() *collector {
	return &collector{notes: map[string][]*providers.IncomingNotification{}, got: make(chan struct{}, 1)}
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var env struct {
		Transaction struct {
			UID string `json:"uid"`
		} `json:"transaction"`
	}
	_ = json.Unmarshal(body, &env)
	in := &providers.IncomingNotification{Method: r.Method, Header: r.Header.Clone(), Query: r.URL.Query(), Body: body}
	c.mu.Lock()
	c.notes[env.Transaction.UID] = append(c.notes[env.Transaction.UID], in)
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
	_ = (&Provider{}).Acknowledge(w)
}

// wait returns the webhooks of uid once there are at least n.
func (c *collector) wait(t *testing.T, uid string, n int) []*providers.IncomingNotification {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		list := append([]*providers.IncomingNotification(nil), c.notes[uid]...)
		c.mu.Unlock()
		if len(list) >= n {
			return list
		}
		select {
		case <-c.got:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for the webhooks of %s (have %d)", uid, len(list))
		}
	}
}

// newSandbox hosts the embedded PaySage sandbox on loopback with the given
// shop secret.
func newSandbox(t *testing.T, secret string) *httptest.Server {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h := &sandbox.Handler{
		SlowDelay: caddy.Duration(4 * time.Second),
		Paysage:   &sandbox.PaysageConfig{ShopID: testShopID, SecretKey: secret},
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

// sandboxProvider is a provider on the sandbox shop, verifying webhooks
// with the sandbox's TEST-ONLY public key.
func sandboxProvider(t *testing.T, sb *httptest.Server) *Provider {
	t.Helper()
	p := &Provider{ShopID: testShopID, SecretKey: testSecret, PublicKey: Keys{sandbox.PaysagePublicKey()}, Test: true,
		Endpoint: sb.URL + "/sandbox/paysage"}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

// sandboxAction approves or declines a payment as the customer would.
func sandboxAction(t *testing.T, sb *httptest.Server, uid, action string) {
	t.Helper()
	resp, err := http.Post(sb.URL+"/sandbox/paysage/_sandbox/payments/"+uid+"/"+action, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox %s: HTTP %d", action, resp.StatusCode)
	}
}

func TestConformance(t *testing.T) {
	sb := newSandbox(t, testSecret)
	notes := newCollector()
	hook := httptest.NewServer(notes)
	t.Cleanup(hook.Close)
	p := sandboxProvider(t, sb)

	var n atomic.Int64
	conformance.Run(t, conformance.Harness{
		Name:     "paysage",
		Provider: p,
		Doer:     &providers.HTTPDoer{Client: &http.Client{}, Timeout: 10 * time.Second},
		Secrets:  []string{testSecret},
		NewPayment: func() *providers.CreatePayment {
			return &providers.CreatePayment{
				Reference: fmt.Sprintf("cf-%d-%d", time.Now().UnixNano()%1e9, n.Add(1)),
				Amount:    1999, Currency: "EUR", Description: "conformance",
				Customer: providers.Customer{ID: "cust-42", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com",
					Country: "SE", IP: "203.0.113.7"},
				Language: "en", ReturnURL: "https://shop.example/return",
				NotificationURL: hook.URL + "/notifications/paysage",
			}
		},
		Decline:     func(r *providers.CreatePayment) { r.Amount = 1313 },
		Garbage:     func(r *providers.CreatePayment) { r.Amount = 1111 },
		Slow:        func(r *providers.CreatePayment) { r.Amount = 1212 },
		SlowTimeout: 500 * time.Millisecond,
		Complete: func(t *testing.T, pay *providers.Payment, approve bool) []*providers.IncomingNotification {
			action := "decline"
			if approve {
				action = "approve"
			}
			sandboxAction(t, sb, pay.ProviderReference, action)
			return notes.wait(t, pay.ProviderReference, 1)
		},
		Tamper: func(in *providers.IncomingNotification) *providers.IncomingNotification {
			out := *in
			body := string(in.Body)
			if strings.Contains(body, `"status":"successful"`) {
				body = strings.Replace(body, `"status":"successful"`, `"status":"failed"`, 1)
			} else {
				body = strings.Replace(body, `"status":"failed"`, `"status":"successful"`, 1)
			}
			out.Body = []byte(body)
			return &out
		},
		Unsigned: func(in *providers.IncomingNotification) *providers.IncomingNotification {
			out := *in
			out.Header = in.Header.Clone()
			out.Header.Del("Content-Signature")
			out.Header.Del("Authorization")
			return &out
		},
	})
}

// The sandbox sends both authentications; each one alone verifies, and
// the Basic one asks the host to confirm with a fetch.
func TestSandboxWebhookBothAuthentications(t *testing.T) {
	sb := newSandbox(t, testSecret)
	notes := newCollector()
	hook := httptest.NewServer(notes)
	t.Cleanup(hook.Close)
	p := sandboxProvider(t, sb)
	req := seedPayment()
	req.Reference = "ORD-BOTH"
	req.NotificationURL = hook.URL + "/notifications/paysage"
	pay, err := p.CreatePayment(context.Background(), doer, req)
	if err != nil {
		t.Fatal(err)
	}
	sandboxAction(t, sb, pay.ProviderReference, "approve")
	in := notes.wait(t, pay.ProviderReference, 1)[0]
	if in.Header.Get("Content-Signature") == "" || in.Header.Get("Authorization") == "" {
		t.Fatalf("the sandbox did not send both: %v", in.Header)
	}
	signed, err := p.VerifyNotification(in)
	if err != nil || signed.Trust.Status == providers.Unsigned || signed.Trust.Amount == providers.Unsigned || signed.EventType != "payment.succeeded" {
		t.Fatalf("signed: %+v %v", signed, err)
	}
	basicOnly := *in
	basicOnly.Header = in.Header.Clone()
	basicOnly.Header.Del("Content-Signature")
	basic, err := p.VerifyNotification(&basicOnly)
	if err != nil || basic.Trust.Status != providers.Unsigned || basic.Trust.Amount != providers.Unsigned || basic.EventType != "payment.succeeded" {
		t.Fatalf("basic: %+v %v", basic, err)
	}
	// A gateway configured with another public key refuses the sandbox's
	// signature even though the Basic credentials are right.
	other := &Provider{ShopID: testShopID, SecretKey: testSecret, PublicKey: Keys{testPublicKey(t)}, Test: true, Endpoint: sb.URL + "/sandbox/paysage"}
	if err := other.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := other.VerifyNotification(in); err == nil {
		t.Fatal("a signature by another key was accepted")
	}

	// Found by reference, refunded twice, the rest refused by PaySage.
	found, err := p.FindPayment(context.Background(), doer, "ORD-BOTH")
	if err != nil || found.ProviderReference != pay.ProviderReference || found.Status != providers.StatusSucceeded {
		t.Fatalf("find: %+v %v", found, err)
	}
	for i, amount := range []int64{200, 300} {
		rf, err := p.Refund(context.Background(), doer, &providers.RefundRequest{Amount: amount, Currency: "EUR",
			Reference: fmt.Sprintf("RF-%d", i), PaymentProviderRef: pay.ProviderReference, PaymentAmount: 500})
		if err != nil || rf.Amount != amount || rf.Status == providers.RefundFailed {
			t.Fatalf("refund %d: %+v %v", i, rf, err)
		}
		got, err := p.GetRefund(context.Background(), doer, rf.ProviderReference)
		if err != nil || got.Amount != amount {
			t.Fatalf("get refund %d: %+v %v", i, got, err)
		}
	}
	_, err = p.Refund(context.Background(), doer, &providers.RefundRequest{Amount: 1, Currency: "EUR",
		PaymentProviderRef: pay.ProviderReference, PaymentAmount: 500})
	e := canonical(t, err, providers.TypeProviderDeclined, "")
	if e.RequestSent != providers.SentYes {
		t.Fatalf("%+v", e)
	}
}

// Wrong credentials give PaySage's 401 shape.
func TestSandboxBadCredentials(t *testing.T) {
	sb := newSandbox(t, "another-secret-XY!")
	p := sandboxProvider(t, sb)
	_, err := p.CreatePayment(context.Background(), doer, seedPayment())
	e := canonical(t, err, providers.TypeProviderError, "")
	if e.ProviderCode == nil || *e.ProviderCode != "http_401" || e.RequestSent != providers.SentYes || e.Retryable {
		t.Fatalf("%+v", e)
	}
}
