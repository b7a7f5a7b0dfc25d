package sandbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestRazorpayCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`payments_sandbox {
		razorpay {
			key_id rzp_test_mine
			key_secret {env.RZP_SANDBOX_KEY_SECRET}
			webhook_secret whsec
			webhook_signing_secret whsec_old
			webhook_url http://localhost:8080/payments/webhooks/razorpay
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := RazorpayConfig{KeyID: "rzp_test_mine", KeySecret: "{env.RZP_SANDBOX_KEY_SECRET}", WebhookSecret: "whsec",
		WebhookSigningSecret: "whsec_old", WebhookURL: "http://localhost:8080/payments/webhooks/razorpay"}
	if h.Razorpay == nil || *h.Razorpay != want {
		t.Fatalf("parsed %+v", h.Razorpay)
	}
	t.Setenv("RZP_SANDBOX_KEY_SECRET", "resolved-key-secret")
	b, _ := json.Marshal(h)
	if strings.Contains(string(b), "resolved-key-secret") || !strings.Contains(string(b), `"key_secret":"{env.RZP_SANDBOX_KEY_SECRET}"`) {
		t.Fatalf("JSON %s", b)
	}

	// An empty block selects the defaults.
	var h2 Handler
	if err := h2.UnmarshalCaddyfile(caddyfile.NewTestDispenser("payments_sandbox {\n\trazorpay {\n\t}\n}")); err != nil ||
		h2.Razorpay == nil || *h2.Razorpay != (RazorpayConfig{}) {
		t.Fatalf("empty block: %v %+v", err, h2.Razorpay)
	}

	for name, in := range map[string]string{
		"unknown":        "payments_sandbox {\n\trazorpay {\n\t\tsecret x\n\t}\n}",
		"block argument": "payments_sandbox {\n\trazorpay live {\n\t}\n}",
		"missing arg":    "payments_sandbox {\n\trazorpay {\n\t\tkey_id\n\t}\n}",
		"extra arg":      "payments_sandbox {\n\trazorpay {\n\t\twebhook_secret a b\n\t}\n}",
		"payabl option":  "payments_sandbox {\n\trazorpay {\n\t\tmerchant_id x\n\t}\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%s: no error for %q", name, in)
		}
	}
}

func TestRazorpayProvision(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()

	// Defaults.
	h := &Handler{}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Cleanup()
	rz := h.emulators["razorpay"].(*razorpay)
	if rz.keyID != "rzp_test_sandbox" || rz.keySecret != "sandbox_key_secret" || rz.webhookSecret != "sandbox_webhook_secret" ||
		rz.webhookURL != "" || rz.signingLabel != "webhook_secret" {
		t.Fatalf("defaults: %q %q %q %q", rz.keyID, rz.keySecret, rz.webhookSecret, rz.webhookURL)
	}

	// Placeholders resolve; the signing secret replaces webhook_secret for signing.
	t.Setenv("RZP_SANDBOX_KEY_SECRET", "from-env")
	h2 := &Handler{Razorpay: &RazorpayConfig{KeySecret: "{env.RZP_SANDBOX_KEY_SECRET}", WebhookSigningSecret: "old"}}
	if err := h2.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer h2.Cleanup()
	if rz := h2.emulators["razorpay"].(*razorpay); rz.keySecret != "from-env" || rz.webhookSecret != "old" || rz.signingLabel != "webhook_signing_secret" {
		t.Fatalf("provisioned %q %q %q", rz.keySecret, rz.webhookSecret, rz.signingLabel)
	}

	for name, cfg := range map[string]*RazorpayConfig{
		"live key":        {KeyID: "rzp_live_abc"},
		"bare prefix":     {KeyID: "rzp_test_"},
		"unset secret":    {KeySecret: "{env.RZP_SANDBOX_UNSET_VARIABLE}"},
		"relative url":    {WebhookURL: "/webhooks"},
		"ftp url":         {WebhookURL: "ftp://example.com/x"},
		"unset hook sec":  {WebhookSecret: "{env.RZP_SANDBOX_UNSET_VARIABLE}"},
		"unset signing":   {WebhookSigningSecret: "{env.RZP_SANDBOX_UNSET_VARIABLE}"},
		"unset key id":    {KeyID: "{env.RZP_SANDBOX_UNSET_VARIABLE}"},
		"unset url":       {WebhookURL: "{env.RZP_SANDBOX_UNSET_VARIABLE}"},
		"secret in error": {KeyID: "rzp_live_secretish", KeySecret: "do-not-print-me"},
	} {
		bad := &Handler{Razorpay: cfg}
		err := bad.Provision(ctx)
		_ = bad.Cleanup()
		if err == nil {
			t.Errorf("%s: Provision accepted %+v", name, cfg)
			continue
		}
		if strings.Contains(err.Error(), "RZP_SANDBOX_UNSET_VARIABLE") || strings.Contains(err.Error(), "do-not-print-me") {
			t.Errorf("%s: error quotes its input: %v", name, err)
		}
	}
}
