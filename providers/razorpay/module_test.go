package razorpay

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-payments/caddy-payments/providers"
)

func TestModuleInfo(t *testing.T) {
	info := Provider{}.CaddyModule()
	if info.ID != "http.payments.providers.razorpay" {
		t.Fatalf("ID = %s", info.ID)
	}
	if _, ok := info.New().(*Provider); !ok {
		t.Fatal("New does not return *Provider")
	}
	if _, err := caddy.GetModule("http.payments.providers.razorpay"); err != nil {
		t.Fatalf("not registered: %v", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`razorpay {
		key_id rzp_test_abc123
		key_secret {env.RZP_SECRET}
		webhook_secret {env.RZP_WH} {file./run/old}
		account_id acc_BFQ7uQEaa7j2z7
		endpoint http://localhost:8080/sandbox/razorpay
		currencies inr EUR
		countries SE
	}`)
	var p Provider
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	const want = `{"key_id":"rzp_test_abc123","key_secret":"{env.RZP_SECRET}","webhook_secrets":["{env.RZP_WH}","{file./run/old}"],"account_id":"acc_BFQ7uQEaa7j2z7","endpoint":"http://localhost:8080/sandbox/razorpay","currencies":["INR","EUR"],"countries":["SE"]}`
	if string(b) != want {
		t.Fatalf("json = %s", b)
	}
	for name, in := range map[string]string{
		"unknown":          "razorpay {\n foo bar\n}",
		"duplicate":        "razorpay {\n key_secret a\n key_secret b\n}",
		"duplicate hooks":  "razorpay {\n webhook_secret a\n webhook_secret b\n}",
		"no value":         "razorpay {\n key_secret\n}",
		"no webhook":       "razorpay {\n webhook_secret\n}",
		"two args":         "razorpay {\n key_id a b\n}",
		"inline":           "razorpay extra",
		"two accounts":     "razorpay {\n account_id acc_A acc_B\n}",
		"currencies twice": "razorpay {\n currencies EUR\n currencies SEK\n}",
		"no currencies":    "razorpay {\n currencies\n}",
	} {
		var q Provider
		if err := q.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestProvisionAndValidate(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old")
	if err := os.WriteFile(old, []byte("old-webhook-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RZP_UNIT_SECRET", "s3cr3t-value")
	t.Setenv("RZP_UNIT_WH", "wh-now")
	p := &Provider{KeyID: "rzp_test_abc123", KeySecret: "{env.RZP_UNIT_SECRET}", WebhookSecrets: []string{"{env.RZP_UNIT_WH}", "{file." + old + "}"}}
	if err := p.Provision(caddyCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.keySecret != "s3cr3t-value" || !reflect.DeepEqual(p.webhookSecrets, []string{"wh-now", "old-webhook-secret"}) ||
		p.base != DefaultEndpoint || !p.test || !p.Capabilities().Test {
		t.Fatalf("provisioned = %+v", p)
	}
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), "s3cr3t-value") || strings.Contains(string(b), "wh-now") {
		t.Fatalf("resolved secret in JSON: %s", b)
	}
	live := &Provider{KeyID: "rzp_live_abc123", KeySecret: "x", WebhookSecrets: []string{"w"}}
	_ = live.Provision(caddyCtx(t))
	if live.Validate() != nil || live.Capabilities().Test {
		t.Fatal("live key reported as test")
	}

	if err := (&Provider{KeySecret: "{env.RZP_UNSET_VAR}"}).Provision(caddyCtx(t)); err == nil || !strings.Contains(err.Error(), "key_secret") {
		t.Fatalf("unresolvable placeholder: %v", err)
	}
	for name, c := range map[string]struct {
		p    Provider
		want string
	}{
		"no key id":     {Provider{KeySecret: "x", WebhookSecrets: []string{"w"}}, "key_id"},
		"bad key id":    {Provider{KeyID: "key:1", KeySecret: "x", WebhookSecrets: []string{"w"}}, "key_id"},
		"no secret":     {Provider{KeyID: "rzp_test_a", WebhookSecrets: []string{"w"}}, "key_secret"},
		"no webhook":    {Provider{KeyID: "rzp_test_a", KeySecret: "x"}, "webhook_secret"},
		"bad endpoint":  {Provider{KeyID: "rzp_test_a", KeySecret: "x", WebhookSecrets: []string{"w"}, Endpoint: "ftp://x"}, "endpoint"},
		"endpoint v1":   {Provider{KeyID: "rzp_test_a", KeySecret: "x", WebhookSecrets: []string{"w"}, Endpoint: "https://api.razorpay.com/v1"}, "endpoint"},
		"endpoint user": {Provider{KeyID: "rzp_test_a", KeySecret: "x", WebhookSecrets: []string{"w"}, Endpoint: "https://u:p@api.razorpay.com"}, "endpoint"},
		"bad account":   {Provider{KeyID: "rzp_test_a", KeySecret: "x", WebhookSecrets: []string{"w"}, AccountID: "BFQ7uQEaa7j2z7"}, "account_id"},
		"bad country":   {Provider{KeyID: "rzp_test_a", KeySecret: "x", WebhookSecrets: []string{"w"}, Overrides: providers.Overrides{Countries: []string{"XX"}}}, "countries"},
	} {
		q := c.p
		if err := q.Provision(caddyCtx(t)); err != nil {
			t.Fatalf("%s: provision: %v", name, err)
		}
		err := q.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want it to name %s", name, err, c.want)
		}
	}
}

func TestCapabilities(t *testing.T) {
	c := testProvider(t, "http://127.0.0.1:1").Capabilities()
	for _, op := range []string{providers.OpCreatePayment, providers.OpGetPayment, providers.OpFindPayment, providers.OpRefund,
		providers.OpGetRefund, providers.OpNotifications, providers.OpReturns} {
		if !c.Supports(op) {
			t.Errorf("missing %s", op)
		}
	}
	if !slices.Contains(c.Currencies, "INR") || !slices.Contains(c.Currencies, "EUR") || !slices.Contains(c.Currencies, "SEK") {
		t.Errorf("currencies %v: INR (the seed's) and the walk-through's European ones are defaults", c.Currencies)
	}
	if c.Supports(providers.OpPayout) || c.Limits["reference"] != 40 || c.Limits["customer.phone"] != 15 || c.Limits["customer.email"] != 40 {
		t.Fatalf("caps = %+v", c)
	}
	for _, cur := range c.Currencies {
		if exp, ok := providers.CurrencyExponent(cur); !ok || exp != 2 {
			t.Errorf("%s: ISO exponent %d differs from Razorpay's 2", cur, exp)
		}
	}
}
