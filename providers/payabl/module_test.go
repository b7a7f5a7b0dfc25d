package payabl

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-payments/caddy-payments/providers"
)

func TestModuleInfo(t *testing.T) {
	info := Provider{}.CaddyModule()
	if info.ID != "http.payments.providers.payabl" {
		t.Fatalf("ID = %s", info.ID)
	}
	if _, ok := info.New().(*Provider); !ok {
		t.Fatal("New does not return *Provider")
	}
	if _, err := caddy.GetModule("http.payments.providers.payabl"); err != nil {
		t.Fatalf("not registered: %v", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`payabl {
		merchant_id gateway_test
		secret {env.PAYABL_SECRET}
		payment_method 116
		endpoint https://sandbox.payabl.com/pay/backoffice
	}`)
	var p Provider
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	const want = `{"merchant_id":"gateway_test","secrets":["{env.PAYABL_SECRET}"],"payment_method":"116","endpoint":"https://sandbox.payabl.com/pay/backoffice"}`
	if string(b) != want {
		t.Fatalf("json = %s", b)
	}
	for name, in := range map[string]string{
		"unknown":   "payabl {\n foo bar\n}",
		"duplicate": "payabl {\n secret a\n secret b\n}",
		"no value":  "payabl {\n secret\n}",
		"two args":  "payabl {\n merchant_id a b\n}",
		"inline":    "payabl extra",
	} {
		var q Provider
		if err := q.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestProvisionAndValidate(t *testing.T) {
	t.Setenv("PAYABL_TEST_SECRET", "s3cr3t-value")
	p := &Provider{MerchantID: "gateway_test", Secret: "{env.PAYABL_TEST_SECRET}", Endpoint: "https://sandbox.payabl.com/pay/backoffice/"}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.secret != "s3cr3t-value" || p.PaymentMethod != "116" || p.base != "https://sandbox.payabl.com/pay/backoffice" || !p.test {
		t.Fatalf("provisioned = %+v", p)
	}
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), "s3cr3t-value") {
		t.Fatal("resolved secret in JSON")
	}

	// An empty placeholder fails, naming the option but not the value.
	q := &Provider{MerchantID: "m", Secret: "{env.PAYABL_UNSET_FOR_TEST}", Endpoint: "https://x/pay/backoffice"}
	err := q.Provision(caddyCtx(t))
	if err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v", err)
	}

	for name, c := range map[string]struct {
		p    Provider
		word string
	}{
		"no endpoint":   {Provider{MerchantID: "m", Secret: "s"}, "endpoint"},
		"ftp endpoint":  {Provider{MerchantID: "m", Secret: "s", Endpoint: "ftp://x/pay/backoffice"}, "endpoint"},
		"http endpoint": {Provider{MerchantID: "m", Secret: "s", Endpoint: "http://sandbox.payabl.com/pay/backoffice"}, "https"},
		"relative":      {Provider{MerchantID: "m", Secret: "s", Endpoint: "/pay/backoffice"}, "endpoint"},
		"no merchant":   {Provider{Secret: "s", Endpoint: "https://x/pay/backoffice"}, "merchant_id"},
		"no secret":     {Provider{MerchantID: "m", Endpoint: "https://x/pay/backoffice"}, "secret"},
		"bad method":    {Provider{MerchantID: "m", Secret: "s", PaymentMethod: "trustly", Endpoint: "https://x/pay/backoffice"}, "payment_method"},
		"merchant 41":   {Provider{MerchantID: strings.Repeat("m", 41), Secret: "s", Endpoint: "https://x/pay/backoffice"}, "merchant_id"},
	} {
		p := c.p
		err := p.Provision(caddyCtx(t))
		if err == nil {
			err = p.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.word) {
			t.Errorf("%s: err = %v, want it to name %s", name, err, c.word)
		}
	}
}

func TestTestMode(t *testing.T) {
	for ep, want := range map[string]bool{
		"https://sandbox.payabl.com/pay/backoffice":               true,
		"https://sandbox.powercash21.com/pay/backoffice":          true,
		"http://127.0.0.1:8080/sandbox/payabl/pay/backoffice":     true,
		"http://localhost:2015/pay/backoffice":                    true,
		"http://[::1]:9/pay/backoffice":                           true,
		"https://gw.example/sandbox/payabl/pay/backoffice":        true,
		"https://payabl.com/pay/backoffice":                       false,
		"https://pay4.powercash21.com/powercash21-3-2/backoffice": false,
	} {
		if got := isTestEndpoint(ep); got != want {
			t.Errorf("isTestEndpoint(%s) = %v", ep, got)
		}
	}
}

func TestCapabilities(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	c := p.Capabilities()
	if c.Type != "payabl" || !c.Test || c.Limits["reference"] != 30 || c.Limits["customer.first_name"] != 30 ||
		!c.Supports(providers.OpPayout) || c.Supports(providers.OpReturns) || len(c.PayoutCountries) != 29 {
		t.Fatalf("caps = %+v", c)
	}
	for _, cur := range c.Currencies {
		if !providers.ValidCurrency(cur) {
			t.Errorf("currency %s is not valid ISO 4217", cur)
		}
	}
	for _, cc := range append(append([]string{}, c.Countries...), c.PayoutCountries...) {
		if !providers.ValidCountry(cc) {
			t.Errorf("country %s invalid", cc)
		}
	}
	// Capabilities hands out copies.
	c.Limits["reference"] = 99
	if p.Capabilities().Limits["reference"] != 30 {
		t.Fatal("limits shared")
	}
}

// accountCountries (what a create checks customer.country against) is the
// Countries that Capabilities announces, with and without an override.
func TestAccountCountriesMatchCapabilities(t *testing.T) {
	p := testProvider(t, "https://sandbox.payabl.com/pay/backoffice")
	if got, want := strings.Join(p.accountCountries(), ","), strings.Join(p.Capabilities().Countries, ","); got != want {
		t.Fatalf("accountCountries = %s, Capabilities().Countries = %s", got, want)
	}
	p.Overrides.Countries = []string{"SE", "FI"}
	if got, want := strings.Join(p.accountCountries(), ","), strings.Join(p.Capabilities().Countries, ","); got != "SE,FI" || got != want {
		t.Fatalf("with an override: accountCountries = %s, Capabilities().Countries = %s", got, want)
	}
	req := productExample()
	req.Customer.Country = "DE"
	canonical(t, p.ValidatePayment(req), providers.TypeInvalidRequest, "customer.country")
}
