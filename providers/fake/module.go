// Package fake is a test-only payment provider: a Caddy guest module
// (http.payments.providers.fake) speaking a tiny JSON wire, and Server, an
// in-memory implementation of that wire. It lets the gateway and the
// provider conformance suite run end to end over real HTTP without any
// provider sandbox. It is not for production: it moves no money.
package fake

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-payments/caddy-payments/providers"
)

func init() { caddy.RegisterModule(Provider{}) }

// Provider is one fake provider account, pointed at a fake.Server.
type Provider struct {
	// Endpoint is the base URL of the fake server (http or https, no
	// query), e.g. the URL of an httptest.Server hosting a fake.Server.
	// Required; {env.*} placeholders are resolved in Provision, so test
	// configs can name a port chosen at run time.
	Endpoint string `json:"endpoint,omitempty"`
	// Secret is the account's API key, also the HMAC key of its
	// notifications. Required. Use {env.VAR} or {file./path} so it stays
	// out of the config; it is resolved once, in Provision.
	Secret string `json:"secret,omitempty"`

	secret string
	base   string // Endpoint without a trailing slash
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  providers.Namespace + ".fake",
		New: func() caddy.Module { return new(Provider) },
	}
}

// Provision resolves the secret placeholders and checks the endpoint.
func (p *Provider) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	secret, err := repl.ReplaceOrErr(p.Secret, true, true)
	if err != nil {
		// The error names the placeholder, never its value.
		return fmt.Errorf("fake: secret: %w", err)
	}
	endpoint, err := repl.ReplaceOrErr(p.Endpoint, true, true)
	if err != nil {
		return fmt.Errorf("fake: endpoint: %w", err)
	}
	return p.setup(endpoint, secret)
}

// New returns a ready provider without Caddy (for tests that do not load
// modules). No placeholders are resolved.
func New(endpoint, secret string) (*Provider, error) {
	p := &Provider{Endpoint: endpoint}
	if err := p.setup(endpoint, secret); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Provider) setup(endpoint, secret string) error {
	if secret == "" {
		return fmt.Errorf("fake: secret is required")
	}
	if endpoint == "" {
		return fmt.Errorf("fake: endpoint is required")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("fake: endpoint must be an absolute http(s) URL without credentials or query")
	}
	p.secret = secret
	p.base = strings.TrimRight(endpoint, "/")
	return nil
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. The
// dispenser starts at the module name (the token after the block name).
//
// Syntax:
//
//	provider <name> fake {
//		endpoint <url>
//		secret   <secret>
//	}
func (p *Provider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name, "fake"
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var target *string
		switch d.Val() {
		case "endpoint":
			target = &p.Endpoint
		case "secret":
			target = &p.Secret
		default:
			return d.Errf("unknown fake provider option '%s'", d.Val())
		}
		if *target != "" {
			return d.Errf("'%s' given twice", d.Val())
		}
		// Errors name the option, never the value: it may be the secret.
		name := d.Val()
		if !d.NextArg() {
			return d.Errf("'%s' takes exactly one value", name)
		}
		*target = d.Val()
		if d.NextArg() {
			return d.Errf("'%s' takes exactly one value", name)
		}
	}
	if p.Endpoint == "" {
		return d.Err("fake provider: endpoint is required")
	}
	if p.Secret == "" {
		return d.Err("fake provider: secret is required")
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner      = (*Provider)(nil)
	_ caddyfile.Unmarshaler  = (*Provider)(nil)
	_ providers.Provider     = (*Provider)(nil)
	_ providers.Refunder     = (*Provider)(nil)
	_ providers.PayoutSender = (*Provider)(nil)
)
