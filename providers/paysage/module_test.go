package paysage

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-payments/caddy-payments/providers"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`paysage {
		shop_id 361
		secret_key {env.PAYSAGE_SECRET}
		public_key MIIBIjAN MIIBold
		test
		endpoint http://localhost:9080/sandbox/paysage
	}`)
	var p Provider
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Provider{ShopID: "361", SecretKey: "{env.PAYSAGE_SECRET}", PublicKey: Keys{"MIIBIjAN", "MIIBold"}, Test: true, Endpoint: "http://localhost:9080/sandbox/paysage"}
	if p.ShopID != want.ShopID || p.SecretKey != want.SecretKey || strings.Join(p.PublicKey, " ") != strings.Join(want.PublicKey, " ") || p.Test != want.Test || p.Endpoint != want.Endpoint {
		t.Fatalf("got %+v", p)
	}

	for _, c := range []struct{ in, wantErr string }{
		{"paysage {\n test false\n}", ""},
		{"paysage {\n test maybe\n}", "test takes true or false"},
		{"paysage {\n shop_id\n}", "wrong argument count"},
		{"paysage {\n shop_id 1 2\n}", "wrong argument count"},
		{"paysage {\n shop_id 1\n shop_id 2\n}", "more than once"},
		{"paysage {\n secret 1\n}", "unknown subdirective"},
		{"paysage extra", "wrong argument count"},
	} {
		var q Provider
		err := q.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.in))
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: error %v, want it to mention %q", c.in, err, c.wantErr)
		}
	}
}

func TestProvisionResolvesSecretsAndDefaults(t *testing.T) {
	t.Setenv("PAYSAGE_TEST_SECRET", testSecret)
	p := &Provider{ShopID: "361", SecretKey: "{env.PAYSAGE_TEST_SECRET}"}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.secretKey != testSecret || p.base != DefaultEndpoint || p.pubs != nil {
		t.Fatalf("provisioned %+v", p)
	}
	if p.Capabilities().Test {
		t.Fatal("a shop without `test` is reported test")
	}

	empty := &Provider{ShopID: "361", SecretKey: "{env.PAYSAGE_UNSET_VARIABLE}"}
	if err := empty.Provision(caddyCtx(t)); err == nil || !strings.Contains(err.Error(), "secret_key") {
		t.Fatalf("unresolved secret: %v", err)
	}
}

func TestPublicKeyForms(t *testing.T) {
	b64 := testPublicKey(t)
	der, _ := base64.StdEncoding.DecodeString(b64)
	pemText := string(readFile(t, "test_only_webhook_public_key.pem"))
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&testPrivateKey(t).PublicKey)}))
	var wrapped strings.Builder
	for i := 0; i < len(b64); i += 64 {
		wrapped.WriteString(b64[i:min(i+64, len(b64))] + "\r\n")
	}
	for name, in := range map[string]string{"base64 DER": b64, "PEM": pemText, "PKCS#1 PEM": pkcs1, "wrapped base64": wrapped.String()} {
		k, err := parsePublicKey(in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !k.Equal(&testPrivateKey(t).PublicKey) {
			t.Errorf("%s: parsed another key", name)
		}
	}
	_ = der

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	for name, c := range map[string]struct{ in, want string }{
		"garbage":     {"not a key!", "neither PEM nor base64"},
		"EC key":      {base64.StdEncoding.EncodeToString(ecDER), "not an RSA key"},
		"truncated":   {b64[:100], "SubjectPublicKeyInfo"},
		"certificate": {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "want PUBLIC KEY"},
	} {
		p := &Provider{ShopID: "361", SecretKey: testSecret, PublicKey: Keys{c.in}}
		err := p.Provision(caddyCtx(t))
		if err == nil || !strings.Contains(err.Error(), "public_key") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming public_key and %q", name, err, c.want)
			continue
		}
		if len(c.in) > 12 && strings.Contains(err.Error(), c.in[:12]) {
			t.Errorf("%s: the error quotes the value", name)
		}
	}
}

func TestValidateConfig(t *testing.T) {
	for _, c := range []struct {
		p    Provider
		want string
	}{
		{Provider{SecretKey: "x"}, "shop_id is required"},
		{Provider{ShopID: "36:1", SecretKey: "x"}, "must not contain ':'"},
		{Provider{ShopID: "361"}, "secret_key is required"},
		{Provider{ShopID: "361", SecretKey: "x", Endpoint: "api.paysage.io"}, "absolute http or https"},
		{Provider{ShopID: "361", SecretKey: "x", Endpoint: "https://u:p@api.paysage.io"}, "user info"},
	} {
		p := c.p
		if err := p.Provision(caddyCtx(t)); err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.p, err, c.want)
		}
	}
}

func TestCapabilities(t *testing.T) {
	p := newProvider(t, "https://api.paysage.io")
	c := p.Capabilities()
	if c.Type != "paysage" || !c.Test || strings.Join(c.Currencies, ",") != "DKK,EUR,GBP,NOK,SEK" {
		t.Fatalf("capabilities %+v", c)
	}
	if len(c.Countries) != 249 || !contains(c.Countries, "SE") || !contains(c.Countries, "ES") {
		t.Fatalf("countries: %d", len(c.Countries))
	}
	if c.Supports(providers.OpPayout) || c.Supports(providers.OpGetPayout) {
		t.Fatal("payouts are listed but PaySage documents none for Trustly")
	}
	for _, f := range []string{"customer.id", "customer.first_name", "customer.last_name", "customer.country", "description"} {
		if !contains(c.RequiredFields, f) {
			t.Errorf("RequiredFields lacks %s", f)
		}
	}
	if _, ok := any(p).(providers.PayoutSender); ok {
		t.Fatal("the provider implements PayoutSender")
	}
}

// public_key in JSON: the single string of older configs is read, several
// keys are an array, and one key is written back as a string.
func TestPublicKeyJSON(t *testing.T) {
	var p Provider
	if err := json.Unmarshal([]byte(`{"shop_id":"361","public_key":"MIIBold"}`), &p); err != nil || len(p.PublicKey) != 1 || p.PublicKey[0] != "MIIBold" {
		t.Fatalf("old single key: %v %v", p.PublicKey, err)
	}
	if b, _ := json.Marshal(p); !strings.Contains(string(b), `"public_key":"MIIBold"`) {
		t.Fatalf("one key is not written as a string: %s", b)
	}
	var q Provider
	if err := json.Unmarshal([]byte(`{"public_key":["MIIBnew","MIIBold"]}`), &q); err != nil || len(q.PublicKey) != 2 {
		t.Fatalf("two keys: %v %v", q.PublicKey, err)
	}
	if b, _ := json.Marshal(q); !strings.Contains(string(b), `"public_key":["MIIBnew","MIIBold"]`) {
		t.Fatalf("%s", b)
	}
	if b, _ := json.Marshal(Provider{}); strings.Contains(string(b), "public_key") {
		t.Fatalf("no key is written: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"public_key":7}`), &q); err == nil {
		t.Fatal("a number was taken as a key")
	}
}

// currencies and countries replace the defaults (issue 10 item 9): in the
// capabilities and in the checks made before anything is sent.
func TestOverrides(t *testing.T) {
	d := caddyfile.NewTestDispenser("paysage {\n shop_id 361\n secret_key s\n currencies eur sek\n countries SE FI\n}")
	var p Provider
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	c := p.Capabilities()
	if strings.Join(c.Currencies, ",") != "EUR,SEK" || strings.Join(c.Countries, ",") != "SE,FI" {
		t.Fatalf("capabilities %v %v", c.Currencies, c.Countries)
	}
	req := seedPayment()
	req.Currency = "NOK"
	canonical(t, p.ValidatePayment(req), providers.TypeInvalidRequest, "currency")
	req = seedPayment()
	req.Customer.Country = "ES"
	canonical(t, p.ValidatePayment(req), providers.TypeInvalidRequest, "customer.country")
	req.Customer.Country = "FI"
	if err := p.ValidatePayment(req); err != nil {
		t.Fatal(err)
	}
	// Defaults without overrides.
	def := newProvider(t, "https://api.paysage.io")
	if c := def.Capabilities(); len(c.Currencies) != 5 || len(c.Countries) < 200 {
		t.Fatalf("defaults %v, %d countries", c.Currencies, len(c.Countries))
	}
	bad := &Provider{ShopID: "361", SecretKey: "s", Overrides: providers.Overrides{Currencies: []string{"XXY"}}}
	if err := bad.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "currencies") {
		t.Fatalf("unknown currency: %v", err)
	}
}
