// Package payabl is the payabl. (ex-powercash21) provider for Trustly
// payments (payment_method 116): form-encoded backoffice requests signed
// with SHA-1, form-encoded or XML replies, and notifications signed with
// SHA-256. Wire facts and their sources: shared/reference/payabl.md.
//
// The package is a Caddy guest module (http.payments.providers.payabl).
// Everything that turns a canonical value into payabl's wire format, or
// payabl's bytes into canonical values, is a small pure function with golden
// tests; the methods that talk to payabl only glue those together around
// the host's Doer.
package payabl

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-payments/caddy-payments/providers"
)

func init() {
	caddy.RegisterModule(Provider{})
}

// DefaultPaymentMethod is payabl's payment method id for Trustly.
const DefaultPaymentMethod = "116"

// Provider is one payabl. merchant account.
type Provider struct {
	// MerchantID is the payabl merchant id (merchantid, at most 40
	// alphanumeric characters). Accepts {env.*}/{file.*} placeholders,
	// resolved in Provision.
	MerchantID string `json:"merchant_id,omitempty"`
	// Secrets are the signing secrets shared with payabl, current first:
	// the first signs requests (SHA-1 `signature`), every one verifies
	// notifications (SHA-256 `security`), so the secret can be rotated
	// without downtime: add the new one in front, keep the old one until
	// payabl has switched and its notifications signed with the old one
	// are past their 3-day retry window, then drop it. Each accepts an
	// {env.*} or {file.*} placeholder so no value lands in the adapted
	// config. Caddyfile: `secret <current> [<old>...]`.
	Secrets []string `json:"secrets,omitempty"`
	// Secret is the single secret of configs written before rotation
	// existed; still read (it is then the only secret). Give Secret or
	// Secrets, not both. New configs use Secrets.
	Secret string `json:"secret,omitempty"`
	// PaymentMethod is payabl's payment method id; default "116"
	// (Trustly), the only method this package is written and tested for.
	PaymentMethod string `json:"payment_method,omitempty"`
	// Endpoint is the backoffice base URL up to and including
	// /pay/backoffice, e.g. https://sandbox.payabl.com/pay/backoffice.
	// Required: payabl publishes its live host only after onboarding, so
	// there is no safe default.
	Endpoint string `json:"endpoint,omitempty"`

	// Overrides replace the default currencies and customer countries
	// (Caddyfile `currencies <ISO 4217>…`, `countries <alpha-2>…`).
	providers.Overrides

	merchantID string
	// secret signs requests: secrets[0].
	secret  string
	secrets []string
	base    string // Endpoint without a trailing slash
	test    bool
	// now is the clock (tests replace it); FindPayment uses it for the
	// tx_diagnose date window.
	now func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  providers.Namespace + ".payabl",
		New: func() caddy.Module { return new(Provider) },
	}
}

// Provision resolves placeholders in the credentials (so {env.X} and
// {file.X} work and secrets never sit in the JSON config) and applies
// defaults. Errors name the option, never its value.
func (p *Provider) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	var err error
	if p.merchantID, err = repl.ReplaceOrErr(p.MerchantID, true, true); err != nil {
		return fmt.Errorf("payabl: merchant_id: placeholder could not be resolved or is empty")
	}
	raw := p.Secrets
	if p.Secret != "" {
		if len(p.Secrets) > 0 {
			return fmt.Errorf("payabl: give secret or secrets, not both")
		}
		raw = []string{p.Secret}
	}
	p.secrets = make([]string, 0, len(raw))
	for i, s := range raw {
		v, err := repl.ReplaceOrErr(s, true, true)
		if err != nil || v == "" {
			return fmt.Errorf("payabl: secret #%d: placeholder could not be resolved or is empty", i+1)
		}
		p.secrets = append(p.secrets, v)
	}
	if len(p.secrets) > 0 {
		p.secret = p.secrets[0]
	}
	if p.PaymentMethod == "" {
		p.PaymentMethod = DefaultPaymentMethod
	}
	p.base = strings.TrimRight(p.Endpoint, "/")
	p.test = isTestEndpoint(p.Endpoint)
	for i, s := range p.secrets {
		if err := providers.CheckDemoSecret(fmt.Sprintf("payabl: secret #%d", i+1), s, p.base); err != nil {
			return err
		}
	}
	return nil
}

// APIEndpoint returns the backoffice base URL (providers.Endpointer).
func (p *Provider) APIEndpoint() string { return p.base }

// DemoAccount reports whether the endpoint is loopback and every secret a
// published demo value (providers.DemoAccounter).
func (p *Provider) DemoAccount() bool { return providers.IsDemoAccount(p.base, p.secrets...) }

// clock returns the current time (replaceable in tests).
func (p *Provider) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// Validate checks the configuration after Provision.
func (p *Provider) Validate() error {
	if p.merchantID == "" {
		return fmt.Errorf("payabl: merchant_id is required")
	}
	if len(p.merchantID) > 40 || !isAlnum(p.merchantID) {
		return fmt.Errorf("payabl: merchant_id must be at most 40 letters, digits, '_' or '-'")
	}
	if p.secret == "" {
		return fmt.Errorf("payabl: secret is required (the current secret first; previous secrets may follow)")
	}
	for i, s := range p.secrets {
		if s == "" {
			return fmt.Errorf("payabl: secret #%d is empty", i+1)
		}
	}
	if err := p.Overrides.Validate(); err != nil {
		return fmt.Errorf("payabl: %w", err)
	}
	if p.PaymentMethod == "" || !allDigits(p.PaymentMethod) {
		return fmt.Errorf("payabl: payment_method must be a numeric payabl payment method id")
	}
	if p.Endpoint == "" {
		return fmt.Errorf("payabl: endpoint is required (e.g. https://sandbox.payabl.com/pay/backoffice)")
	}
	u, err := url.Parse(p.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("payabl: endpoint must be an absolute http or https URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("payabl: endpoint must not carry a query, fragment or user info")
	}
	// payabl's request signature is replayable and, like the notification
	// security, concatenates values without separators (docs/providers/payabl.md):
	// a signed request must never cross a network in clear text.
	if u.Scheme != "https" && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("payabl: endpoint must be https unless it is a loopback address (a local sandbox)")
	}
	return nil
}

// isTestEndpoint decides the canonical `test` flag. payabl has no test
// flag of its own and no key prefix that tells sandbox from live, so the
// endpoint decides: it is a test account when the endpoint's host or path
// contains "sandbox" (sandbox.payabl.com, sandbox.powercash21.com, the
// embedded sandbox under /…/payabl/…) or the host is loopback/localhost
// (a local emulator). Anything else is treated as live, so a live account
// is never reported as test by accident of naming.
func isTestEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, "sandbox") || strings.Contains(strings.ToLower(u.Path), "sandbox") {
		return true
	}
	return isLoopbackHost(host)
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. The host
// hands over a dispenser positioned on the type token.
//
// Syntax:
//
//	provider <name> payabl {
//		merchant_id <id>
//		secret <current> [<old>...]
//		payment_method <id>
//		endpoint <url>
//		currencies <ISO 4217>...
//		countries <alpha-2>...
//		forward_format canonical|native   # docs/native-forwarding.md
//	}
//
// secret: the first signs requests, every one verifies notifications.
// currencies and countries replace the defaults (countries: the customer
// countries, checked against customer.country).
func (p *Provider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the type token
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if ok, err := p.Overrides.ParseOverride(d); ok {
			if err != nil {
				return fmt.Errorf("payabl: %w", err)
			}
			continue
		}
		var target *string
		switch name {
		case "merchant_id":
			target = &p.MerchantID
		case "secret":
			if seen[name] {
				return d.Errf("payabl: %s given more than once", name)
			}
			seen[name] = true
			p.Secrets = d.RemainingArgs()
			if len(p.Secrets) == 0 {
				return d.ArgErr()
			}
			continue
		case "payment_method":
			target = &p.PaymentMethod
		case "endpoint":
			target = &p.Endpoint
		default:
			return d.Errf("payabl: unknown subdirective %q", name)
		}
		if seen[name] {
			return d.Errf("payabl: %s given more than once", name)
		}
		seen[name] = true
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

// Trustly coverage on payabl (seed document 004, "Trustly"). Two country
// lists, not to be confused:
//
//   - customerCountries are the customer countries payment_preauthorize
//     accepts in `country` ("Supported countries: AUT, BEL, CZE, DEU, DNK,
//     EST, ESP, FIN, GBR, LTU, LVA, NLD, NOR, POL, SWE, SVK", as alpha-2):
//     Capabilities().Countries, what customer.country is checked against.
//   - PayinCountries are the countries whose banks Trustly collects from
//     ("Payin countries"): where the customer's bank account can be. The
//     gateway cannot check a bank country at create time (the customer
//     picks the bank at Trustly), so this list is informational (docs/providers/payabl.md).
//
// HRK is left out of the currencies: Croatia adopted the euro in 2023 and
// the ISO table no longer has it.
var (
	customerCountries = []string{"AT", "BE", "CZ", "DE", "DK", "EE", "ES", "FI", "GB", "LT", "LV", "NL", "NO", "PL", "SE", "SK"}
	// PayinCountries: the seed's "Payin countries" (bank countries
	// Trustly collects from), alpha-2.
	PayinCountries  = []string{"AT", "DE", "DK", "EE", "ES", "FI", "GB", "LT", "LV", "NL", "NO", "SE"}
	currencies      = []string{"BGN", "CZK", "DKK", "EUR", "GBP", "HUF", "NOK", "PLN", "RON", "SEK"}
	payoutCountries = func() []string {
		out := make([]string, 0, len(payoutRules))
		for _, r := range payoutRules {
			out = append(out, r.country)
		}
		return out
	}()
)

// limits are payabl's maximum lengths, keyed by canonical field (reference
// §5; where the seed and the reference disagree the stricter one is used).
var limits = map[string]int{
	"reference":                    30,
	"description":                  255,
	"customer.first_name":          30,
	"customer.last_name":           30,
	"customer.email":               50,
	"customer.phone":               20,
	"customer.ip":                  39,
	"customer.address.line1":       100,
	"customer.address.city":        40,
	"customer.address.postal_code": 10,
	"customer.address.state":       30,
	"return_url":                   255,
	"success_url":                  255,
	"failure_url":                  255,
}

// accountCountries is Capabilities().Countries without building the
// rest: the account's countries override, else payabl's customer
// countries. The slice is shared: callers only read it.
func (p *Provider) accountCountries() []string {
	if p.Overrides.Countries != nil {
		return p.Overrides.Countries
	}
	return customerCountries
}

// Capabilities implements providers.Provider.
func (p *Provider) Capabilities() providers.Capabilities {
	l := make(map[string]int, len(limits))
	for k, v := range limits {
		l[k] = v
	}
	c := providers.Capabilities{
		Type:            "payabl",
		Test:            p.test,
		Currencies:      append([]string(nil), currencies...),
		Countries:       append([]string(nil), customerCountries...),
		PayoutCountries: append([]string(nil), payoutCountries...),
		Operations: []string{
			providers.OpCreatePayment, providers.OpGetPayment, providers.OpFindPayment,
			providers.OpRefund, providers.OpGetRefund, providers.OpPayout, providers.OpGetPayout,
			providers.OpNotifications,
		},
		RequiredFields: []string{"customer.email"},
		Limits:         l,
	}
	p.Overrides.Apply(&c)
	return c
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Interface guards.
var (
	_ caddy.Provisioner      = (*Provider)(nil)
	_ caddy.Validator        = (*Provider)(nil)
	_ caddyfile.Unmarshaler  = (*Provider)(nil)
	_ providers.Provider     = (*Provider)(nil)
	_ providers.Refunder     = (*Provider)(nil)
	_ providers.PayoutSender = (*Provider)(nil)
	_ providers.Resender     = (*Provider)(nil)
)
