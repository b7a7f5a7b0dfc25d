package payabl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// testProvider returns a provisioned provider on the public sandbox
// account (secret b185), with a fixed clock. Provision refuses the
// published b185 off loopback (providers.CheckDemoSecret), so the
// provider is provisioned with another secret and then given b185, which
// payabl.'s documented examples are signed with.
func testProvider(t *testing.T, endpoint string) *Provider {
	t.Helper()
	p := &Provider{MerchantID: "gateway_test", Secret: "not-the-demo-secret", Endpoint: endpoint}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	p.secret, p.secrets = "b185", []string{"b185"}
	p.now = func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }
	return p
}

// productExample is the create-payment example of PRODUCT.md.
func productExample() *providers.CreatePayment {
	return &providers.CreatePayment{
		Provider:    "payabl",
		Reference:   "ORD-1001",
		Amount:      1999,
		Currency:    "EUR",
		Description: "Order 1001",
		Customer: providers.Customer{
			ID: "cust-42", FirstName: "Jane", LastName: "Doe",
			Email: "jane@example.com", Phone: "+46701234567",
			Country: "SE", BirthDate: "1990-02-08",
			IP: "203.0.113.7", UserAgent: "Mozilla/5.0", Referer: "https://shop.example/cart",
			Address: &providers.Address{Line1: "Storgatan 1", City: "Stockholm", PostalCode: "11122"},
		},
		Language:        "en",
		ReturnURL:       "https://shop.example/return",
		SuccessURL:      "https://shop.example/ok",
		FailureURL:      "https://shop.example/failed",
		Metadata:        map[string]string{"cart": "c-9"},
		NotificationURL: "https://gw.example/notifications/payabl",
	}
}

// canonical asserts err is a *providers.Error of the given type (and field,
// when field is not empty) and returns it.
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
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
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
