package paysage

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Test credentials. The secret has characters no id or hex token holds,
// so a secrets scan cannot match by accident.
const (
	testShopID = "361"
	testSecret = "sk-paysage-test-QZ!"
)

func caddyCtx(t *testing.T) caddy.Context { return caddyCtxTB(t) }

// caddyCtxTB is caddyCtx for fuzz targets and benchmarks too.
func caddyCtxTB(t testing.TB) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

// readFile reads testdata/name.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testPublicKey is the TEST-ONLY public key, as the back office shows it.
func testPublicKey(t testing.TB) string {
	return strings.TrimSpace(string(readFile(t, "test_only_webhook_public_key.b64")))
}

// testPrivateKey is the TEST-ONLY private key that signed the fixtures.
func testPrivateKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(readFile(t, "test_only_webhook_private_key.pem"))
	if block == nil {
		t.Fatal("no PEM block in the test key")
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newProvider returns a provisioned, validated test-mode provider with the
// test key, pointed at endpoint.
func newProvider(t *testing.T, endpoint string) *Provider {
	t.Helper()
	p := &Provider{ShopID: testShopID, SecretKey: testSecret, PublicKey: Keys{testPublicKey(t)}, Test: true, Endpoint: endpoint}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return p
}

// recorded is one request a stub server received.
type recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// stub is a PaySage stand-in that answers every request with one fixed
// reply and records what it got.
type stub struct {
	srv    *httptest.Server
	status int
	body   []byte

	mu   sync.Mutex
	reqs []recorded
}

func newStub(t *testing.T, status int, body []byte) *stub {
	t.Helper()
	s := &stub{status: status, body: body}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: b})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stub) last(t *testing.T) recorded {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the stub received no request")
	}
	return s.reqs[len(s.reqs)-1]
}

func (s *stub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// doer is the host's real Doer.
var doer = &providers.HTTPDoer{Client: &http.Client{}}

// seedPayment is the canonical request equivalent to the seed's request
// example (plus the reference and notification URL a real create has).
func seedPayment() *providers.CreatePayment {
	return &providers.CreatePayment{
		Reference: "ORD-1001", Amount: 500, Currency: "EUR", Description: "description",
		Customer: providers.Customer{ID: "1306999j", FirstName: "John", LastName: "Doe", Country: "ES"},
		Language: "en", ReturnURL: "https://return.com",
		NotificationURL: "https://gw.example/notifications/paysage",
	}
}

// productExample is the create-payment example of PRODUCT.md.
func productExample() *providers.CreatePayment {
	return &providers.CreatePayment{
		Provider: "paysage", Reference: "ORD-1001", Amount: 1999, Currency: "EUR", Description: "Order 1001",
		Customer: providers.Customer{
			ID: "cust-42", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com", Phone: "+46701234567",
			Country: "SE", BirthDate: "1990-02-08", IP: "203.0.113.7", UserAgent: "Mozilla/5.0",
			Referer: "https://shop.example/cart",
			Address: &providers.Address{Line1: "Storgatan 1", Line2: "lgh 1101", City: "Stockholm", PostalCode: "11122", State: "AB"},
		},
		Language: "en", ReturnURL: "https://shop.example/return",
		Metadata:        map[string]string{"cart": "c-9"},
		NotificationURL: "https://gw.example/notifications/paysage",
	}
}

// canonical asserts err is a *providers.Error of the given type (and
// field, when not empty) and returns it.
func canonical(t *testing.T, err error, typ, field string) *providers.Error {
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

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

// indent renders v as indented JSON for golden files.
func indent(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
