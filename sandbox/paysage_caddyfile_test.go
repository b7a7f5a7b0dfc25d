package sandbox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestPaysageUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`payments_sandbox {
		paysage {
			shop_id 4242
			secret_key {env.PAYSAGE_SANDBOX_SECRET}
			private_key /etc/caddy/paysage-test.pem
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.Paysage == nil || h.Paysage.ShopID != "4242" || h.Paysage.SecretKey != "{env.PAYSAGE_SANDBOX_SECRET}" ||
		h.Paysage.PrivateKeyFile != "/etc/caddy/paysage-test.pem" {
		t.Fatalf("parsed %+v", h.Paysage)
	}
	t.Setenv("PAYSAGE_SANDBOX_SECRET", "resolved-secret-value")
	b, _ := json.Marshal(h)
	if strings.Contains(string(b), "resolved-secret-value") || !strings.Contains(string(b), `"secret_key":"{env.PAYSAGE_SANDBOX_SECRET}"`) ||
		!strings.Contains(string(b), `"private_key_file":"/etc/caddy/paysage-test.pem"`) {
		t.Fatalf("JSON %s", b)
	}
	// An empty block enables the defaults.
	var h2 Handler
	if err := h2.UnmarshalCaddyfile(caddyfile.NewTestDispenser("payments_sandbox {\n\tpaysage {\n\t}\n}")); err != nil || h2.Paysage == nil {
		t.Fatalf("empty block: %v %+v", err, h2.Paysage)
	}

	for name, in := range map[string]string{
		"argument":           "payments_sandbox {\n\tpaysage x\n}",
		"unknown":            "payments_sandbox {\n\tpaysage {\n\t\tpublic_key abc\n\t}\n}",
		"shop_id no arg":     "payments_sandbox {\n\tpaysage {\n\t\tshop_id\n\t}\n}",
		"secret_key 2 args":  "payments_sandbox {\n\tpaysage {\n\t\tsecret_key a b\n\t}\n}",
		"private_key no arg": "payments_sandbox {\n\tpaysage {\n\t\tprivate_key\n\t}\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%s: no error for %q", name, in)
		}
	}
}

func TestPaysageProvision(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	provision := func(cfg *PaysageConfig) (*paysage, error) {
		h := &Handler{Paysage: cfg}
		err := h.Provision(ctx)
		t.Cleanup(func() { _ = h.Cleanup() })
		if err != nil {
			return nil, err
		}
		return h.emulators["paysage"].(*paysage), nil
	}

	p, err := provision(nil)
	if err != nil || p.shopID != "361" || p.secretKey != "sandbox_secret_key" || p.publicKey != PaysagePublicKey() {
		t.Fatalf("defaults: %v", err)
	}
	t.Setenv("PAYSAGE_SANDBOX_SECRET", "from-env")
	if p, err := provision(&PaysageConfig{SecretKey: "{env.PAYSAGE_SANDBOX_SECRET}"}); err != nil || p.secretKey != "from-env" {
		t.Fatalf("placeholder: %v", err)
	}

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	big, _ := rsa.GenerateKey(rand.Reader, 2048)
	bigDER, _ := x509.MarshalPKCS8PrivateKey(big)

	if p, err := provision(&PaysageConfig{PrivateKeyFile: write("ok.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: bigDER}))}); err != nil ||
		p.publicKey == PaysagePublicKey() || p.key.N.Cmp(big.N) != 0 {
		t.Fatalf("PKCS#8 key file: %v", err)
	}
	for name, cfg := range map[string]*PaysageConfig{
		"missing file":   {PrivateKeyFile: filepath.Join(dir, "nope.pem")},
		"not PEM":        {PrivateKeyFile: write("junk.pem", []byte("hello"))},
		"public key PEM": {PrivateKeyFile: write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}))},
		"1024-bit RSA":   {PrivateKeyFile: write("small.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}))},
		"EC key":         {PrivateKeyFile: write("ec.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))},
		"unset secret":   {SecretKey: "{env.PAYSAGE_SANDBOX_UNSET_VARIABLE}"},
		"colon shop_id":  {ShopID: "36:1"},
	} {
		_, err := provision(cfg)
		if err == nil {
			t.Errorf("%s: Provision accepted %+v", name, cfg)
			continue
		}
		if strings.Contains(err.Error(), "PAYSAGE_SANDBOX_UNSET_VARIABLE") || strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("%s: error quotes its input: %v", name, err)
		}
	}
}

// TestPaysageCaddyfileAdapt runs the real Caddyfile adapter on a paysage
// block: the placeholder stays a placeholder in the JSON.
func TestPaysageCaddyfileAdapt(t *testing.T) {
	in := "localhost:8080 {\n\tpayments_sandbox {\n\t\tpaysage {\n\t\t\tshop_id 361\n\t\t\tsecret_key {env.PAYSAGE_SANDBOX_SECRET}\n\t\t}\n\t}\n}\n"
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, _, err := adapter.Adapt([]byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if js := string(out); !strings.Contains(js, `"paysage":{"secret_key":"{env.PAYSAGE_SANDBOX_SECRET}","shop_id":"361"}`) {
		t.Fatalf("paysage block not in the JSON as written: %s", js)
	}
}
