package fake

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestModuleRegistered(t *testing.T) {
	info, err := caddy.GetModule("http.payments.providers.fake")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.New().(*Provider); !ok {
		t.Fatalf("New returns %T", info.New())
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`fake {
		endpoint http://127.0.0.1:9999
		secret {env.FAKE_SECRET}
	}`)
	var p Provider
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if p.Endpoint != "http://127.0.0.1:9999" || p.Secret != "{env.FAKE_SECRET}" {
		t.Fatalf("parsed %+v", p)
	}

	bad := map[string]string{
		"unknown option":   "fake {\n endpoint http://x\n secret s\n colour red\n}",
		"missing secret":   "fake {\n endpoint http://x\n}",
		"missing endpoint": "fake {\n secret s\n}",
		"inline argument":  "fake extra {\n endpoint http://x\n secret s\n}",
		"two secrets":      "fake {\n endpoint http://x\n secret s1 s2\n}",
		"secret twice":     "fake {\n endpoint http://x\n secret s1\n secret s2\n}",
	}
	for name, in := range bad {
		var p Provider
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), "s1") || strings.Contains(err.Error(), "s2") {
			t.Errorf("%s: error %q shows a secret", name, err)
		}
	}
}

func TestProvisionResolvesSecret(t *testing.T) {
	t.Setenv("FAKE_SECRET", "from-env-123")
	p := Provider{Endpoint: "http://127.0.0.1:9999/", Secret: "{env.FAKE_SECRET}"}
	if err := p.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if p.secret != "from-env-123" || p.base != "http://127.0.0.1:9999" {
		t.Fatalf("secret resolved to %q, base %q", p.secret, p.base)
	}

	empty := Provider{Endpoint: "http://127.0.0.1:9999", Secret: "{env.FAKE_SECRET_UNSET_XYZ}"}
	if err := empty.Provision(caddy.Context{}); err == nil {
		t.Fatal("an empty secret placeholder provisioned")
	}
	for _, ep := range []string{"", "ftp://x", "/relative", "http://user:pw@host", "http://host?x=1"} {
		p := Provider{Endpoint: ep, Secret: "s3cret"}
		if err := p.Provision(caddy.Context{}); err == nil {
			t.Errorf("endpoint %q provisioned", ep)
		}
	}
}
