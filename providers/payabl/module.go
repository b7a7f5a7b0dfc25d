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
	// Secret is the signing secret shared with payabl: it signs requests
	// (SHA-1) and verifies notifications (SHA-256). Use an {env.*} or
	// {file.*} placeholder so the value never lands in the adapted config.
	Secret string `json:"secret,omitempty"`
	// PaymentMethod is payabl's payment method id; default "116"
	// (Trustly), the only method this package is written and tested for.
	PaymentMethod string `json:"payment_method,omitempty"`
	// Endpoint is the backoffice base URL up to and including
	// /pay/backoffice, e.g. https://sandbox.payabl.com/pay/backoffice.
	// Required: payabl publishes its live host only after onboarding, so
	// there is no safe default.
	Endpoint string `json:"endpoint,omitempty"`

	merchantID string
	secret     string
	base       string // Endpoint without a trailing slash
	test       bool
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
	if p.secret, err = repl.ReplaceOrErr(p.Secret, true, true); err != nil {
		return fmt.Errorf("payabl: secret: placeholder could not be resolved or is empty")
	}
	if p.PaymentMethod == "" {
		p.PaymentMethod = DefaultPaymentMethod
	}
	p.base = strings.TrimRight(p.Endpoint, "/")
	p.test = isTestEndpoint(p.Endpoint)
	if err := providers.CheckDemoSecret("payabl: secret", p.secret, p.base); err != nil {
		return err
	}
	return nil
}

// APIEndpoint returns the backoffice base URL (providers.Endpointer).
func (p *Provider) APIEndpoint() string { return p.base }

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
		return fmt.Errorf("payabl: secret is required")
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
//		secret <secret>
//		payment_method <id>
//		endpoint <url>
//	}
func (p *Provider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the type token
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		var target *string
		switch name {
		case "merchant_id":
			target = &p.MerchantID
		case "secret":
			target = &p.Secret
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

// Trustly coverage on payabl (seed "Payin countries", "Customer
// currencies", "Payout countries"). HRK is left out: Croatia adopted the
// euro in 2023 and the ISO table no longer has it.
var (
	payinCountries  = []string{"AT", "DE", "DK", "EE", "ES", "FI", "GB", "LT", "LV", "NL", "NO", "SE"}
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

// Capabilities implements providers.Provider.
func (p *Provider) Capabilities() providers.Capabilities {
	l := make(map[string]int, len(limits))
	for k, v := range limits {
		l[k] = v
	}
	return providers.Capabilities{
		Type:            "payabl",
		Test:            p.test,
		Currencies:      append([]string(nil), currencies...),
		Countries:       append([]string(nil), payinCountries...),
		PayoutCountries: append([]string(nil), payoutCountries...),
		Operations: []string{
			providers.OpCreatePayment, providers.OpGetPayment, providers.OpFindPayment,
			providers.OpRefund, providers.OpGetRefund, providers.OpPayout, providers.OpGetPayout,
			providers.OpNotifications,
		},
		RequiredFields: []string{"customer.email"},
		Limits:         l,
	}
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
)
