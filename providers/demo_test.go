package providers_test

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/payabl"
	"github.com/caddy-payments/caddy-payments/providers/paysage"
	"github.com/caddy-payments/caddy-payments/providers/razorpay"
	"github.com/caddy-payments/caddy-payments/sandbox"
)

// The list follows the sandbox: its defaults and its published key are
// demo values, whatever form the key is given in.
func TestDemoValuesFollowTheSandbox(t *testing.T) {
	if sandbox.PaysagePublicKey() != providers.DemoPaysagePublicKey {
		t.Fatal("DemoPaysagePublicKey is not the sandbox's PaySage public key")
	}
	der, _ := base64.StdEncoding.DecodeString(sandbox.PaysagePublicKey())
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	wrapped := strings.Join(regexp.MustCompile(`.{1,64}`).FindAllString(sandbox.PaysagePublicKey(), -1), "\r\n")
	for _, v := range []string{
		sandbox.DefaultPayablSecret, sandbox.DefaultRazorpayKeySecret, sandbox.DefaultRazorpayWebhookSecret,
		sandbox.DefaultPaysageSecretKey, sandbox.PaysagePublicKey(), pemKey, wrapped,
		providers.DemoAPIToken, providers.DemoForwardSecret,
	} {
		if !providers.IsDemoValue(v) {
			t.Errorf("%.40q… is not recognised as a demo value", v)
		}
	}
	for _, v := range []string{"", "b18", "b1855", "live-secret", "sandbox_secret_key2"} {
		if providers.IsDemoValue(v) {
			t.Errorf("%q is taken for a demo value", v)
		}
	}
}

// Every {$VAR:default} fallback of Caddyfile.example that is a secret is
// on the list.
func TestDemoValuesCoverCaddyfileExample(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\{\$[A-Z_]*(SECRET|TOKEN|KEY)[A-Z_]*:([^}]+)\}`).FindAllStringSubmatch(string(raw), -1)
	if len(m) == 0 {
		t.Fatal("no secret fallbacks found in Caddyfile.example")
	}
	for _, x := range m {
		if !providers.IsDemoValue(x[2]) {
			t.Errorf("Caddyfile.example fallback %s is not a demo value", x[0])
		}
	}
}

func TestIsLoopbackEndpoint(t *testing.T) {
	for _, e := range []string{"http://127.0.0.1:8080/sandbox/payabl", "http://localhost:9080/x", "https://LOCALHOST./x",
		"http://[::1]:80/", "http://127.9.9.9"} {
		if !providers.IsLoopbackEndpoint(e) {
			t.Errorf("%s is not taken for loopback", e)
		}
	}
	for _, e := range []string{"", "https://api.razorpay.com", "https://sandbox.payabl.com/pay/backoffice", "http://10.0.0.1/",
		"http://localhost.example.com/", "http://127.0.0.1.nip.io/", "http://[2001:db8::1]/", "/sandbox/payabl", "http://0.0.0.0/"} {
		if providers.IsLoopbackEndpoint(e) {
			t.Errorf("%s is taken for loopback", e)
		}
	}
}

func TestCheckDemoSecret(t *testing.T) {
	err := providers.CheckDemoSecret("paysage: secret_key", "sandbox_secret_key", "https://api.paysage.io")
	if err == nil {
		t.Fatal("a demo secret with a public endpoint was accepted")
	}
	if !strings.Contains(err.Error(), "paysage: secret_key") || !strings.Contains(err.Error(), "loopback") ||
		strings.Contains(err.Error(), "sandbox_secret_key") {
		t.Fatalf("error %q must name the field and the rule, never the value", err)
	}
	if err := providers.CheckDemoSecret("secret", "sandbox_secret_key", ""); err == nil {
		t.Fatal("an empty endpoint (the provider's public default) counts as loopback")
	}
	for _, ok := range []struct{ value, endpoint string }{
		{"sandbox_secret_key", "http://localhost:8080/sandbox/paysage"},
		{"b185", "http://127.0.0.1:1/sandbox/payabl/pay/backoffice"},
		{"my-own-secret", "https://api.paysage.io"},
	} {
		if err := providers.CheckDemoSecret("secret", ok.value, ok.endpoint); err != nil {
			t.Errorf("%s on %s: %v", ok.value, ok.endpoint, err)
		}
	}
}

// Every provider module reports its endpoint to the host.
var (
	_ providers.Endpointer = (*payabl.Provider)(nil)
	_ providers.Endpointer = (*razorpay.Provider)(nil)
	_ providers.Endpointer = (*paysage.Provider)(nil)
)

// provisioner is what the test needs of a provider module.
type provisioner interface {
	Provision(caddy.Context) error
	Validate() error
	providers.Endpointer
}

// The real provider modules refuse the published demo secrets and keys
// unless the account's endpoint is a loopback address (the sandbox).
func TestProvidersRefuseDemoSecretsOffLoopback(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	const own = "an-account-secret-of-its-own"
	cases := []struct {
		name  string
		field string
		mk    func(endpoint string) provisioner
	}{
		{"payabl secret", "payabl: secret", func(e string) provisioner {
			return &payabl.Provider{MerchantID: "m1", Secret: "b185", Endpoint: e}
		}},
		{"razorpay key_secret", "razorpay: key_secret", func(e string) provisioner {
			return &razorpay.Provider{KeyID: "rzp_test_abc", KeySecret: "sandbox_key_secret", WebhookSecrets: []string{own}, Endpoint: e}
		}},
		{"razorpay webhook_secret", "razorpay: webhook_secret", func(e string) provisioner {
			return &razorpay.Provider{KeyID: "rzp_test_abc", KeySecret: own, WebhookSecrets: []string{own, "sandbox_webhook_secret"}, Endpoint: e}
		}},
		{"paysage secret_key", "paysage: secret_key", func(e string) provisioner {
			return &paysage.Provider{ShopID: "361", SecretKey: "sandbox_secret_key", Endpoint: e}
		}},
		{"paysage public_key", "paysage: public_key", func(e string) provisioner {
			return &paysage.Provider{ShopID: "361", SecretKey: own, PublicKey: sandbox.PaysagePublicKey(), Endpoint: e}
		}},
		{"paysage secret_key from env", "paysage: secret_key", func(e string) provisioner {
			return &paysage.Provider{ShopID: "361", SecretKey: "{env.DEMO_TEST_PS_SECRET}", Endpoint: e}
		}},
	}
	t.Setenv("DEMO_TEST_PS_SECRET", "sandbox_secret_key")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, e := range []string{"https://psp.example/api", "http://203.0.113.1:8080/sandbox", ""} {
				if c.name == "payabl secret" && e == "" {
					continue // payabl has no default endpoint
				}
				err := c.mk(e).Provision(ctx)
				if err == nil {
					t.Fatalf("endpoint %q: a demo value was accepted", e)
				}
				if !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), "loopback") ||
					strings.Contains(err.Error(), "sandbox_") || strings.Contains(err.Error(), "b185") || strings.Contains(err.Error(), "MIIB") {
					t.Fatalf("endpoint %q: error %q must name %s and the rule, never the value", e, err, c.field)
				}
			}
			for _, e := range []string{"http://localhost:8080/sandbox/x", "http://127.0.0.1:9080/sandbox/x", "http://[::1]:9080/sandbox/x"} {
				p := c.mk(e)
				if err := p.Provision(ctx); err != nil {
					t.Fatalf("endpoint %q (loopback): %v", e, err)
				}
				if err := p.Validate(); err != nil {
					t.Fatalf("endpoint %q (loopback): Validate: %v", e, err)
				}
				if p.APIEndpoint() != e {
					t.Fatalf("APIEndpoint() = %q, want %q", p.APIEndpoint(), e)
				}
			}
		})
	}
	// A provider's public default endpoint is what APIEndpoint reports.
	rz := &razorpay.Provider{KeyID: "rzp_test_abc", KeySecret: own, WebhookSecrets: []string{own}}
	if err := rz.Provision(ctx); err != nil || rz.APIEndpoint() != razorpay.DefaultEndpoint {
		t.Fatalf("razorpay default: %v, %q", err, rz.APIEndpoint())
	}
}
