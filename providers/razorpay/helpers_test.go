package razorpay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-payments/caddy-payments/providers"
)

const (
	testKeyID     = "rzp_test_unit1234"
	testKeySecret = "unit-key-secret-Q!"
	testWebhook   = "unit-webhook-secret-now"
	testWebhookV0 = "unit-webhook-secret-old"
)

func caddyCtx(t *testing.T) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

// testProvider returns a provisioned, validated provider on endpoint.
func testProvider(t *testing.T, endpoint string) *Provider {
	t.Helper()
	p := &Provider{KeyID: testKeyID, KeySecret: testKeySecret, WebhookSecrets: []string{testWebhook, testWebhookV0}, Endpoint: endpoint}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return p
}

// canned is one scripted reply.
type canned struct {
	status int
	body   string
	ctype  string
}

// seen is one request the scripted server received.
type seen struct {
	method, path, query, body string
	header                    http.Header
}

// scripted is a loopback HTTP server answering "METHOD /path" with canned
// replies and recording what it was sent.
type scripted struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	replies map[string]canned
	got     []seen
}

func newScripted(t *testing.T, replies map[string]canned) *scripted {
	s := &scripted{t: t, replies: replies}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, seen{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Clone()})
		c, ok := s.replies[r.Method+" "+r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.Error(w, "unscripted "+r.Method+" "+r.URL.Path, http.StatusTeapot)
			return
		}
		ct := c.ctype
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(c.status)
		_, _ = io.WriteString(w, c.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.got...)
}

func doer() *providers.HTTPDoer {
	return &providers.HTTPDoer{Client: &http.Client{}, Timeout: 5 * time.Second}
}

// productExample is PRODUCT.md's create-payment example, as the host
// hands it over.
func productExample() *providers.CreatePayment {
	return &providers.CreatePayment{
		Provider: "razorpay", Reference: "ORD-1001", Amount: 1999, Currency: "EUR", Description: "Order 1001",
		Customer: providers.Customer{
			ID: "cust-42", FirstName: "Jane", LastName: "Doe",
			Email: "jane@example.com", Phone: "+46701234567",
			Country: "SE", BirthDate: "1990-02-08",
			IP: "203.0.113.7", UserAgent: "Mozilla/5.0", Referer: "https://shop.example/cart",
			Address: &providers.Address{Line1: "Storgatan 1", City: "Stockholm", PostalCode: "11122"},
		},
		Language: "en", ReturnURL: "https://shop.example/return",
		SuccessURL: "https://shop.example/ok", FailureURL: "https://shop.example/failed",
		Metadata:         map[string]string{"cart": "c-9"},
		NotificationURL:  "https://gw.example/notifications/razorpay",
		GatewayReturnURL: "https://gw.example/returns/razorpay",
	}
}

// canonical asserts err is a *providers.Error of the given type (and
// field, and request_sent, when not empty) and returns it.
func canonical(t *testing.T, err error, typ, field, sent string) *providers.Error {
	t.Helper()
	var e *providers.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	if e.Type != typ {
		t.Fatalf("error type = %q, want %q (%v)", e.Type, typ, e)
	}
	if field != "" && e.Field != field {
		t.Fatalf("error field = %q, want %q (%v)", e.Field, field, e)
	}
	if sent != "" && e.RequestSent != sent {
		t.Fatalf("request_sent = %q, want %q (%v)", e.RequestSent, sent, e)
	}
	return e
}

// golden compares got with testdata/name; UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden %s: %v", path, err)
	}
	if strings.TrimRight(string(want), "\n") != strings.TrimRight(got, "\n") {
		t.Errorf("%s mismatch:\n got: %s\nwant: %s", name, got, want)
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
