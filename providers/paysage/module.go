// Package paysage is the PaySage.io provider for Trustly payments. PaySage
// is a white-label deployment of the beGateway platform: JSON requests in a
// {"request":{…}} envelope to the APM ("beyag") API, HTTP Basic
// shop_id:secret_key, replies of {"transaction":{…}}, and webhooks
// authenticated by an RSA Content-Signature (or, without one, by the same
// Basic credentials). Wire facts and their sources:
// shared/reference/paysage.md and the PaySage Trustly page (seed 003).
//
// The package is a Caddy guest module (http.payments.providers.paysage).
// Everything that turns a canonical value into PaySage's wire format, or
// PaySage's bytes into canonical values, is a small pure function with
// golden tests; the methods that talk to PaySage glue those together
// around the host's Doer.
package paysage

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-payments/caddy-payments/providers"
)

func init() {
	caddy.RegisterModule(Provider{})
}

// DefaultEndpoint is PaySage's APM API host. PaySage has one host for live
// and test; test transactions are chosen per request with "test": true
// (reference §2, PaymentIQ and PaySage method pages).
const DefaultEndpoint = "https://api.paysage.io"

// Provider is one PaySage shop.
type Provider struct {
	// ShopID is the shop id from the PaySage back office (Shops → Shop
	// list → Details); the Basic-auth user name. Accepts {env.*}/{file.*}
	// placeholders, resolved in Provision.
	ShopID string `json:"shop_id,omitempty"`
	// SecretKey is the shop's secret key: the Basic-auth password for API
	// calls, and what webhooks without a Content-Signature must carry. Use
	// an {env.*} or {file.*} placeholder so the value never lands in the
	// adapted config.
	SecretKey string `json:"secret_key,omitempty"`
	// PublicKey is the shop's RSA public key as the back office shows it
	// (base64 DER SubjectPublicKeyInfo, no armour) or PEM; several keys
	// (new and old, for rotation) verify a Content-Signature if any one
	// of them matches. With a key, webhooks that carry a Content-Signature
	// are verified by signature; without one, webhooks are authenticated
	// by Basic credentials only. Placeholders are resolved ({file.*} suits
	// a PEM file). In JSON a single key is a string (as before several
	// keys were accepted) and several are an array of strings; both forms
	// are read.
	PublicKey Keys `json:"public_key,omitempty"`
	// Test sends "test": true with every payment, making it a PaySage test
	// transaction, and marks every canonical object test. PaySage has no
	// separate test host, so this flag is the only thing that keeps a test
	// shop's payments from being real.
	Test bool `json:"test,omitempty"`
	// Endpoint is the API base URL; default https://api.paysage.io. The
	// embedded sandbox serves the same paths under <prefix>/paysage.
	Endpoint string `json:"endpoint,omitempty"`
	// Overrides replace the default currencies (PaySage Trustly's five) and
	// customer countries (every country) of this shop.
	providers.Overrides

	shopID    string
	secretKey string
	pubs      []*rsa.PublicKey
	pubRaw    []string // public_key values as resolved, for DemoAccount
	base      string   // endpoint without a trailing slash
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  providers.Namespace + ".paysage",
		New: func() caddy.Module { return new(Provider) },
	}
}

// Provision resolves placeholders in the credentials (so {env.X} and
// {file.X} work and secrets never sit in the JSON config), parses the
// public key and applies defaults. Errors name the option, never its value.
func (p *Provider) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	var err error
	if p.shopID, err = repl.ReplaceOrErr(p.ShopID, true, true); err != nil {
		return fmt.Errorf("paysage: shop_id: placeholder could not be resolved or is empty")
	}
	if p.secretKey, err = repl.ReplaceOrErr(p.SecretKey, true, true); err != nil {
		return fmt.Errorf("paysage: secret_key: placeholder could not be resolved or is empty")
	}
	p.pubs, p.pubRaw = nil, nil
	for i, k := range p.PublicKey {
		raw, err := repl.ReplaceOrErr(k, true, true)
		if err != nil {
			return fmt.Errorf("paysage: public_key %d: placeholder could not be resolved or is empty", i+1)
		}
		if err := providers.CheckDemoSecret("paysage: public_key", raw, p.Endpoint); err != nil {
			return err
		}
		pub, err := parsePublicKey(raw)
		if err != nil {
			return fmt.Errorf("paysage: public_key %d: %v", i+1, err)
		}
		p.pubs = append(p.pubs, pub)
		p.pubRaw = append(p.pubRaw, raw)
	}
	if p.Endpoint == "" {
		p.Endpoint = DefaultEndpoint
	}
	p.base = strings.TrimRight(p.Endpoint, "/")
	if err := providers.CheckDemoSecret("paysage: secret_key", p.secretKey, p.base); err != nil {
		return err
	}
	return nil
}

// APIEndpoint returns the API base URL, default applied (providers.Endpointer).
func (p *Provider) APIEndpoint() string { return p.base }

// DemoAccount reports whether the endpoint is loopback and secret_key and
// every public_key are published demo values (the sandbox's key)
// (providers.DemoAccounter).
func (p *Provider) DemoAccount() bool {
	return providers.IsDemoValue(p.secretKey) && providers.IsDemoAccount(p.base, append([]string{p.secretKey}, p.pubRaw...)...)
}

// Validate checks the configuration after Provision.
func (p *Provider) Validate() error {
	if p.shopID == "" {
		return fmt.Errorf("paysage: shop_id is required")
	}
	// RFC 7617: a Basic user-id cannot contain ':' (it would split the
	// credentials differently on the two sides).
	if strings.ContainsAny(p.shopID, ":\r\n") {
		return fmt.Errorf("paysage: shop_id must not contain ':' or line breaks")
	}
	if p.secretKey == "" {
		return fmt.Errorf("paysage: secret_key is required")
	}
	u, err := url.Parse(p.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("paysage: endpoint must be an absolute http or https URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("paysage: endpoint must not carry a query, fragment or user info")
	}
	if err := p.Overrides.Validate(); err != nil {
		return fmt.Errorf("paysage: %w", err)
	}
	return nil
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. The host
// hands over a dispenser positioned on the type token.
//
// Syntax:
//
//	provider <name> paysage {
//		shop_id <id>
//		secret_key <secret>
//		public_key <base64 DER or PEM> [<old key>…]
//		test [true|false]
//		endpoint <url>
//		currencies <ISO 4217>…
//		countries <ISO 3166-1 alpha-2>…
//		forward_format canonical|native   # docs/native-forwarding.md
//	}
//
// public_key takes several keys while the shop rotates its key pair: a
// Content-Signature that any of them verifies is accepted. secret_key is
// one value (it authenticates the gateway's own calls).
func (p *Provider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the type token
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("paysage: %s given more than once", name)
		}
		seen[name] = true
		if ok, err := p.Overrides.ParseOverride(d); ok {
			if err != nil {
				return fmt.Errorf("paysage: %w", err)
			}
			continue
		}
		if name == "public_key" {
			p.PublicKey = d.RemainingArgs()
			if len(p.PublicKey) == 0 {
				return d.ArgErr()
			}
			continue
		}
		if name == "test" {
			p.Test = true
			if d.NextArg() {
				b, err := strconv.ParseBool(d.Val())
				if err != nil {
					return d.Errf("paysage: test takes true or false")
				}
				p.Test = b
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			continue
		}
		var target *string
		switch name {
		case "shop_id":
			target = &p.ShopID
		case "secret_key":
			target = &p.SecretKey
		case "endpoint":
			target = &p.Endpoint
		default:
			return d.Errf("paysage: unknown subdirective %q", name)
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		*target = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// Keys is a list of public keys that reads, in JSON, either one string
// (the form of configs written when public_key took one key) or an array
// of strings, and writes one key as a string, so a config with one key
// stays byte for byte what it was.
type Keys []string

// UnmarshalJSON reads a string or an array of strings.
func (k *Keys) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*k = nil
		if one != "" {
			*k = Keys{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("paysage: public_key must be a string or an array of strings")
	}
	*k = many
	return nil
}

// MarshalJSON writes one key as a string and several as an array.
func (k Keys) MarshalJSON() ([]byte, error) {
	if len(k) == 1 {
		return json.Marshal(k[0])
	}
	return json.Marshal([]string(k))
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*Provider)(nil)
	_ caddy.Validator       = (*Provider)(nil)
	_ caddyfile.Unmarshaler = (*Provider)(nil)
	_ providers.Provider    = (*Provider)(nil)
	_ providers.Refunder    = (*Provider)(nil)
	_ providers.Returner    = (*Provider)(nil)
)
