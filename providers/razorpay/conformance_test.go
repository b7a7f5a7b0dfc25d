package razorpay

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
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

// Credentials with characters that never occur in ids or hex, so the
// suite's secret scan cannot match by accident.
const (
	cfKeyID     = "rzp_test_conformance"
	cfKeySecret = "cf-razorpay-key-secret-QZ!"
	cfWebhook   = "cf-razorpay-webhook-QZ!"
)

// hooks is the account's webhook URL: it records every webhook (raw) by
// the order it is about and acknowledges.
type hooks struct {
	mu    sync.Mutex
	notes map[string][]*providers.IncomingNotification
}

func (c *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		Payload struct {
			Payment struct {
				Entity struct {
					OrderID string `json:"order_id"`
				} `json:"entity"`
			} `json:"payment"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(body, &ev)
	in := &providers.IncomingNotification{Method: r.Method, Header: r.Header.Clone(), Query: r.URL.Query(), Body: body}
	c.mu.Lock()
	c.notes[ev.Payload.Payment.Entity.OrderID] = append(c.notes[ev.Payload.Payment.Entity.OrderID], in)
	c.mu.Unlock()
	_ = (&Provider{}).Acknowledge(w)
}

// wait returns the webhooks of an order once there are at least n.
func (c *hooks) wait(t *testing.T, orderID string, n int) []*providers.IncomingNotification {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		list := append([]*providers.IncomingNotification(nil), c.notes[orderID]...)
		c.mu.Unlock()
		if len(list) >= n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d webhooks of %s (have %d)", n, orderID, len(list))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newSandbox hosts the embedded Razorpay sandbox on loopback, sending
// webhooks to hookURL.
func newSandbox(t *testing.T, hookURL string) *httptest.Server {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h := &sandbox.Handler{
		SlowDelay: caddy.Duration(4 * time.Second),
		Razorpay:  &sandbox.RazorpayConfig{KeyID: cfKeyID, KeySecret: cfKeySecret, WebhookSecret: cfWebhook, WebhookURL: hookURL},
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

var (
	metaRefreshRe = regexp.MustCompile(`(?i)<meta http-equiv="refresh" content="0;url=([^"]+)"`)
	formTokenRe   = regexp.MustCompile(`name="token" value="([^"]+)"`)
)

// checkout plays the customer's browser: the launch (create/redirect)
// page, its meta refresh to the hosted checkout, and the button.
func checkout(t *testing.T, p *Provider, pay *providers.Payment, approve bool) {
	t.Helper()
	if pay.LaunchData == "" {
		t.Fatalf("payment has no LaunchData: %+v", pay)
	}
	page, err := p.Launch(t.Context(), doer(), pay.LaunchData, &providers.IncomingNotification{Method: "GET",
		Header: http.Header{"User-Agent": {"conformance-browser/1.0"}}})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	m := metaRefreshRe.FindSubmatch(page.Body)
	if m == nil {
		t.Fatalf("the launch page has no refresh to the checkout:\n%s", page.Body)
	}
	checkoutURL := html.UnescapeString(string(m[1]))
	resp, err := http.Get(checkoutURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := formTokenRe.FindSubmatch(body)
	if resp.StatusCode != 200 || tok == nil {
		t.Fatalf("checkout page: HTTP %d\n%s", resp.StatusCode, body)
	}
	action := "decline"
	if approve {
		action = "approve"
	}
	resp, err = http.PostForm(checkoutURL, url.Values{"token": {html.UnescapeString(string(tok[1]))}, "action": {action}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("checkout %s: HTTP %d", action, resp.StatusCode)
	}
}

func TestConformance(t *testing.T) {
	hk := &hooks{notes: map[string][]*providers.IncomingNotification{}}
	hook := httptest.NewServer(hk)
	t.Cleanup(hook.Close)
	sb := newSandbox(t, hook.URL+"/notifications/razorpay")

	p := &Provider{KeyID: cfKeyID, KeySecret: cfKeySecret, WebhookSecrets: []string{cfWebhook}, Endpoint: sb.URL + "/sandbox/razorpay"}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	conformance.Run(t, conformance.Harness{
		Name:     "razorpay",
		Provider: p,
		Doer:     &providers.HTTPDoer{Client: &http.Client{}, Timeout: 10 * time.Second},
		Secrets:  []string{cfKeySecret, cfWebhook},
		NewPayment: func() *providers.CreatePayment {
			return &providers.CreatePayment{
				Reference: fmt.Sprintf("cf-%d-%d", time.Now().UnixNano()%1e9, n.Add(1)), Amount: 1999, Currency: "EUR",
				Description: "conformance",
				Customer: providers.Customer{FirstName: "Jane", LastName: "Doe", Email: "jane@example.com",
					Phone: "+46701234567", Country: "SE", IP: "203.0.113.7"},
				ReturnURL: "https://shop.example/return", NotificationURL: hook.URL + "/notifications/razorpay",
				GatewayReturnURL: "https://gw.example/returns/razorpay",
			}
		},
		// The create makes only the order: its decline is the order refused
		// (1717); the bank decline (1313) happens at the launch.
		Decline:     func(r *providers.CreatePayment) { r.Amount = 1717 },
		Garbage:     func(r *providers.CreatePayment) { r.Amount = 1111 },
		Slow:        func(r *providers.CreatePayment) { r.Amount = 1212 },
		SlowTimeout: 500 * time.Millisecond,
		Complete: func(t *testing.T, pay *providers.Payment, approve bool) []*providers.IncomingNotification {
			checkout(t, p, pay, approve)
			if approve {
				// payment.authorized, payment.captured, order.paid
				return hk.wait(t, pay.ProviderReference, 3)
			}
			return hk.wait(t, pay.ProviderReference, 1)
		},
		Tamper: func(in *providers.IncomingNotification) *providers.IncomingNotification {
			out := *in
			out.Header = in.Header.Clone()
			out.Body = []byte(strings.Replace(string(in.Body), `"amount":1999`, `"amount":1`, 1))
			if string(out.Body) == string(in.Body) {
				out.Body = append([]byte(nil), in.Body...)
				out.Body = append(out.Body, ' ')
			}
			return &out
		},
		Unsigned: func(in *providers.IncomingNotification) *providers.IncomingNotification {
			out := *in
			out.Header = in.Header.Clone()
			out.Header.Del("X-Razorpay-Signature")
			return &out
		},
	})
}
