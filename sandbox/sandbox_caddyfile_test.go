package sandbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`payments_sandbox {
		prefix /psp
		public_url https://shop.example/psp
		notify_delay 2s
		slow_delay 1m
		payabl {
			merchant_id my_mid
			secret {env.PAYABL_SANDBOX_SECRET}
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.Prefix != "/psp" || h.PublicURL != "https://shop.example/psp" || time.Duration(h.NotifyDelay) != 2*time.Second ||
		time.Duration(h.SlowDelay) != time.Minute || h.Payabl == nil || h.Payabl.MerchantID != "my_mid" ||
		h.Payabl.Secret != "{env.PAYABL_SANDBOX_SECRET}" {
		t.Fatalf("parsed %+v %+v", h, h.Payabl)
	}
	// The placeholder, not its value, is what lands in the JSON config.
	t.Setenv("PAYABL_SANDBOX_SECRET", "resolved-secret-value")
	b, _ := json.Marshal(h)
	if strings.Contains(string(b), "resolved-secret-value") || !strings.Contains(string(b), "{env.PAYABL_SANDBOX_SECRET}") {
		t.Fatalf("JSON %s", b)
	}

	// An empty block and no block are fine.
	for _, in := range []string{"payments_sandbox", "payments_sandbox {\n}"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil || h.Payabl != nil || h.Prefix != "" {
			t.Errorf("%q: %v %+v", in, err, h)
		}
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	for name, in := range map[string]string{
		"argument":             "payments_sandbox /x",
		"unknown subdirective": "payments_sandbox {\n\tfoo bar\n}",
		"unknown in payabl":    "payments_sandbox {\n\tpayabl {\n\t\tkey_id x\n\t}\n}",
		"payabl argument":      "payments_sandbox {\n\tpayabl x\n}",
		"prefix missing arg":   "payments_sandbox {\n\tprefix\n}",
		"prefix extra arg":     "payments_sandbox {\n\tprefix /a /b\n}",
		"secret missing arg":   "payments_sandbox {\n\tpayabl {\n\t\tsecret\n\t}\n}",
		"bad duration":         "payments_sandbox {\n\tnotify_delay soon\n}",
		"negative duration":    "payments_sandbox {\n\tslow_delay -1s\n}",
		"unknown provider":     "payments_sandbox {\n\tstripe {\n\t}\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%s: no error for %q", name, in)
		}
	}
}

func TestProvisionSecrets(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()

	t.Setenv("PAYABL_SANDBOX_SECRET", "from-env")
	h := &Handler{Payabl: &PayablConfig{Secret: "{env.PAYABL_SANDBOX_SECRET}"}}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Cleanup()
	p := h.emulators["payabl"].(*payabl)
	if p.secret != "from-env" || p.merchantID != DefaultPayablMerchantID || h.Prefix != DefaultPrefix || h.env.slowDelay != DefaultSlowDelay {
		t.Fatalf("provisioned secret/merchant/prefix/slow = %q %q %q %v", p.secret, p.merchantID, h.Prefix, h.env.slowDelay)
	}

	// Defaults: the public sandbox account.
	h2 := &Handler{}
	if err := h2.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer h2.Cleanup()
	if p := h2.emulators["payabl"].(*payabl); p.secret != "b185" || p.merchantID != "gateway_test" {
		t.Fatal("defaults are not the public payabl. sandbox account")
	}

	// An unset variable fails Provision without quoting anything secret.
	h3 := &Handler{Payabl: &PayablConfig{Secret: "{env.PAYABL_SANDBOX_UNSET_VARIABLE}"}}
	err := h3.Provision(ctx)
	_ = h3.Cleanup()
	if err == nil || strings.Contains(err.Error(), "PAYABL_SANDBOX_UNSET_VARIABLE") {
		t.Fatalf("unset placeholder: %v", err)
	}

	for name, bad := range map[string]*Handler{
		"prefix":     {Prefix: "sandbox"},
		"public_url": {PublicURL: "shop.example/sandbox"},
		"query":      {PublicURL: "https://shop.example/sandbox?x=1"},
	} {
		err := bad.Provision(ctx)
		_ = bad.Cleanup()
		if err == nil {
			t.Errorf("%s: Provision accepted %+v", name, bad)
		}
	}
}

// TestCaddyfileAdapt runs the real Caddyfile adapter: the directive is
// registered and self-ordered (no `order` option), runs before respond,
// and the secret placeholder stays a placeholder in the JSON.
func TestCaddyfileAdapt(t *testing.T) {
	in := "localhost:8080 {\n\trespond \"shop\"\n\tpayments_sandbox {\n\t\tpayabl {\n\t\t\tsecret {env.PAYABL_SANDBOX_SECRET}\n\t\t}\n\t}\n}\n"
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, _, err := adapter.Adapt([]byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	js := string(out)
	sb := strings.Index(js, `"handler":"payments_sandbox"`)
	resp := strings.Index(js, `"handler":"static_response"`)
	if sb < 0 || resp < 0 || sb > resp {
		t.Fatalf("payments_sandbox missing or not ordered before respond: %s", js)
	}
	if !strings.Contains(js, `"secret":"{env.PAYABL_SANDBOX_SECRET}"`) {
		t.Fatalf("secret placeholder not kept verbatim: %s", js)
	}
}
