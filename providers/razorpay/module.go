package razorpay

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
)

func init() {
	caddy.RegisterModule(Provider{})
}

// DefaultEndpoint is Razorpay's API host; test and live share it (the key
// decides the mode).
const DefaultEndpoint = "https://api.razorpay.com"

// Provider is one Razorpay account.
type Provider struct {
	// KeyID is the API key id ("rzp_test_…" or "rzp_live_…"); its prefix
	// decides whether the account is in test mode. Accepts {env.*} and
	// {file.*} placeholders, resolved in Provision.
	KeyID string `json:"key_id,omitempty"`
	// KeySecret is the API key secret: HTTP Basic password on every call
	// and the key of the customer-return signature. Use an {env.*} or
	// {file.*} placeholder so it never lands in the adapted config.
	KeySecret string `json:"key_secret,omitempty"`
	// WebhookSecrets are the webhook secrets set on the Razorpay Dashboard,
	// current first, then previous ones: Razorpay keeps signing retries of
	// older events with the secret in force when they were first sent, so
	// a rotation keeps the old secret here until those retries end (24h).
	// Each accepts placeholders.
	WebhookSecrets []string `json:"webhook_secrets,omitempty"`
	// AccountID is the Razorpay account ("acc_…", Dashboard → Account &
	// Settings) whose webhooks this block accepts. Every Razorpay webhook
	// body names its account in the signed account_id; when AccountID is
	// set, a correctly signed webhook naming another account (or none) is
	// refused as unauthenticated, so two accounts that share a webhook
	// secret cannot stand in for each other. When it is empty the account
	// is not checked, and each account's webhook secrets must be unique
	// (Provision logs a warning saying so).
	AccountID string `json:"account_id,omitempty"`
	// Endpoint is the API base URL without /v1; default
	// https://api.razorpay.com (the embedded sandbox serves the same paths
	// under <prefix>/razorpay).
	Endpoint string `json:"endpoint,omitempty"`
	// Overrides replace the default currencies (the Trustly currencies
	// plus INR) and customer countries (the 16 Trustly countries) with
	// what the account's contract with Razorpay allows.
	providers.Overrides

	keyID          string
	keySecret      string
	webhookSecrets []string
	base           string
	test           bool
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  providers.Namespace + ".razorpay",
		New: func() caddy.Module { return new(Provider) },
	}
}

// Provision resolves placeholders in the credentials (so {env.X} and
// {file.X} work and secrets never sit in the JSON config) and applies the
// default endpoint. Errors name the option, never its value. Without
// account_id it logs a warning: webhooks are then bound to the account
// only by their secret.
func (p *Provider) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	var err error
	if p.keyID, err = repl.ReplaceOrErr(p.KeyID, true, true); err != nil {
		return fmt.Errorf("razorpay: key_id: placeholder could not be resolved or is empty")
	}
	if p.keySecret, err = repl.ReplaceOrErr(p.KeySecret, true, true); err != nil {
		return fmt.Errorf("razorpay: key_secret: placeholder could not be resolved or is empty")
	}
	p.webhookSecrets = p.webhookSecrets[:0]
	for i, s := range p.WebhookSecrets {
		v, err := repl.ReplaceOrErr(s, true, true)
		if err != nil {
			return fmt.Errorf("razorpay: webhook_secret #%d: placeholder could not be resolved or is empty", i+1)
		}
		p.webhookSecrets = append(p.webhookSecrets, v)
	}
	endpoint := p.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	p.base = strings.TrimRight(endpoint, "/")
	p.test = strings.HasPrefix(p.keyID, "rzp_test_")
	if err := providers.CheckDemoSecret("razorpay: key_secret", p.keySecret, p.base); err != nil {
		return err
	}
	for _, s := range p.webhookSecrets {
		if err := providers.CheckDemoSecret("razorpay: webhook_secret", s, p.base); err != nil {
			return err
		}
	}
	if p.AccountID == "" {
		ctx.Logger().Warn("razorpay: no account_id set, so webhooks are not bound to an account: "+
			"each Razorpay account's webhook secret must then be unique (set account_id acc_… to bind them)",
			zap.String("key_id", p.keyID))
	}
	return nil
}

// APIEndpoint returns the API base URL, default applied (providers.Endpointer).
func (p *Provider) APIEndpoint() string { return p.base }

// DemoAccount reports whether the endpoint is loopback and key_secret and
// every webhook_secret are published demo values (providers.DemoAccounter).
func (p *Provider) DemoAccount() bool {
	return providers.IsDemoValue(p.keySecret) && providers.IsDemoAccount(p.base, append([]string{p.keySecret}, p.webhookSecrets...)...)
}

// accountIDRe is Razorpay's account id: "acc_" and alphanumerics (14 on
// Razorpay; looser, like the other id patterns).
var accountIDRe = regexp.MustCompile(`^acc_[A-Za-z0-9]{1,40}$`)

// keyIDRe is Razorpay's key id shape: rzp_test_… or rzp_live_… followed by
// letters and digits. It also keeps ':' out, which HTTP Basic cannot carry
// in a user name.
var keyIDRe = regexp.MustCompile(`^rzp_(test|live)_[A-Za-z0-9]{1,64}$`)

// Validate checks the configuration after Provision.
func (p *Provider) Validate() error {
	if p.keyID == "" {
		return fmt.Errorf("razorpay: key_id is required")
	}
	if !keyIDRe.MatchString(p.keyID) {
		return fmt.Errorf("razorpay: key_id must look like rzp_test_… or rzp_live_… (letters and digits after the prefix)")
	}
	if p.keySecret == "" {
		return fmt.Errorf("razorpay: key_secret is required")
	}
	if len(p.webhookSecrets) == 0 {
		return fmt.Errorf("razorpay: webhook_secret is required (the secret of the webhook set on the Razorpay Dashboard; previous secrets may follow)")
	}
	for i, s := range p.webhookSecrets {
		if s == "" {
			return fmt.Errorf("razorpay: webhook_secret #%d is empty", i+1)
		}
	}
	if p.AccountID != "" && !accountIDRe.MatchString(p.AccountID) {
		return fmt.Errorf("razorpay: account_id must look like acc_… (letters and digits after the prefix)")
	}
	if err := p.Overrides.Validate(); err != nil {
		return fmt.Errorf("razorpay: %w", err)
	}
	u, err := url.Parse(p.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("razorpay: endpoint must be an absolute http or https URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("razorpay: endpoint must not carry a query, fragment or user info")
	}
	if strings.HasSuffix(u.Path, "/v1") {
		return fmt.Errorf("razorpay: endpoint must not end in /v1 (the version prefix is added per call)")
	}
	return nil
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. The host
// hands over a dispenser positioned on the type token.
//
// Syntax:
//
//	provider <name> razorpay {
//		key_id <rzp_test_…|rzp_live_…>
//		key_secret <secret>
//		webhook_secret <current> [<previous>...]
//		account_id <acc_…>
//		endpoint <url>
//		currencies <ISO 4217>...
//		countries <ISO 3166-1 alpha-2>...
//		forward_format canonical|native   # docs/native-forwarding.md
//	}
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
				return fmt.Errorf("razorpay: %w", err)
			}
			continue
		}
		if seen[name] {
			return d.Errf("razorpay: %s given more than once", name)
		}
		seen[name] = true
		var target *string
		switch name {
		case "key_id":
			target = &p.KeyID
		case "key_secret":
			target = &p.KeySecret
		case "endpoint":
			target = &p.Endpoint
		case "account_id":
			target = &p.AccountID
		case "webhook_secret":
			p.WebhookSecrets = d.RemainingArgs()
			if len(p.WebhookSecrets) == 0 {
				return d.ArgErr()
			}
			continue
		default:
			return d.Errf("razorpay: unknown subdirective %q (want key_id, key_secret, webhook_secret, account_id, endpoint, currencies or countries)", name)
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

// Trustly on Razorpay (reference §0). Presentment currencies are not
// documented for provider=trustly (§11.3): these are INR, the only
// currency of Razorpay's Trustly sample (and of the seed's order example),
// and the currencies of the Trustly countries; all are exponent 2 in
// Razorpay's table as in ISO 4217. An account's `currencies` and
// `countries` replace them.
var (
	countries  = []string{"AT", "BE", "CZ", "DE", "DK", "EE", "ES", "FI", "GB", "LT", "LV", "NL", "NO", "PL", "SE", "SK"}
	currencies = []string{"CZK", "DKK", "EUR", "GBP", "INR", "NOK", "PLN", "SEK"}
)

// minINR is Razorpay's minimum order amount in INR: 100 paise, ₹1.00
// (reference §11.2; the minimums of other currencies are not documented).
const minINR = 100

// Field limits Razorpay imposes (reference §2.2, §3.2).
const (
	maxReceipt   = 40  // order receipt = canonical reference, ASCII
	maxEmail     = 40  // S2S field table
	maxContact   = 15  // including the country code
	maxNotes     = 15  // key/value pairs
	maxNoteValue = 256 // characters per value
)

// Capabilities implements providers.Provider.
func (p *Provider) Capabilities() providers.Capabilities {
	caps := providers.Capabilities{
		Type:       "razorpay",
		Test:       p.test,
		Currencies: append([]string(nil), currencies...),
		Countries:  append([]string(nil), countries...),
		Operations: []string{
			providers.OpCreatePayment, providers.OpGetPayment, providers.OpFindPayment,
			providers.OpRefund, providers.OpGetRefund, providers.OpNotifications, providers.OpReturns,
		},
		// email, contact and ip are mandatory in the S2S field table.
		RequiredFields: []string{"customer.email", "customer.phone", "customer.ip"},
		Limits: map[string]int{
			"reference":      maxReceipt,
			"customer.email": maxEmail,
			"customer.phone": maxContact,
		},
	}
	p.Overrides.Apply(&caps)
	return caps
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*Provider)(nil)
	_ caddy.Validator       = (*Provider)(nil)
	_ caddyfile.Unmarshaler = (*Provider)(nil)
	_ providers.Provider    = (*Provider)(nil)
	_ providers.Refunder    = (*Provider)(nil)
	_ providers.Returner    = (*Provider)(nil)
	_ providers.Launcher    = (*Provider)(nil)
)
