package providers

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Overrides replace a provider account's default currencies and customer
// countries (Caddyfile `currencies <ISO 4217>…` and `countries <alpha-2>…`
// in any provider block). An account's contract with its provider decides
// what it may take; the defaults are what the provider documents.
type Overrides struct {
	// Currencies, when set, replace the default currencies the account
	// accepts (ISO 4217 codes).
	Currencies []string `json:"currencies,omitempty"`
	// Countries, when set, replace the default customer countries the
	// account accepts (ISO 3166-1 alpha-2; checked against
	// customer.country).
	Countries []string `json:"countries,omitempty"`
	// Forwarding is the account's forward_format (forwarding.go).
	Forwarding
}

// ParseOverride handles a `currencies`, `countries` or `forward_format`
// line of a provider block: it reports false for any other subdirective.
// Codes are upper-cased and checked; a repeated line is an error.
func (o *Overrides) ParseOverride(d *caddyfile.Dispenser) (bool, error) {
	var target *[]string
	switch d.Val() {
	case "currencies":
		target = &o.Currencies
	case "countries":
		target = &o.Countries
	case "forward_format":
		return true, o.Forwarding.parseForwardFormat(d)
	default:
		return false, nil
	}
	name := d.Val()
	if *target != nil {
		return true, d.Errf("%s given more than once", name)
	}
	vals := d.RemainingArgs()
	if len(vals) == 0 {
		return true, d.ArgErr()
	}
	for i, v := range vals {
		vals[i] = strings.ToUpper(v)
	}
	*target = vals
	return true, nil
}

// Validate checks every code: known ISO 4217 currencies and ISO 3166-1
// alpha-2 countries, none repeated; and forward_format.
func (o Overrides) Validate() error {
	if err := o.Forwarding.validateForwardFormat(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, c := range o.Currencies {
		if !ValidCurrency(c) {
			return fmt.Errorf("currencies: %q is not an ISO 4217 currency code this gateway knows", c)
		}
		if seen["cur:"+c] {
			return fmt.Errorf("currencies: %s is listed twice", c)
		}
		seen["cur:"+c] = true
	}
	for _, c := range o.Countries {
		if !ValidCountry(c) {
			return fmt.Errorf("countries: %q is not an ISO 3166-1 alpha-2 country code", c)
		}
		if seen["cty:"+c] {
			return fmt.Errorf("countries: %s is listed twice", c)
		}
		seen["cty:"+c] = true
	}
	return nil
}

// Apply replaces the defaults in c with whatever is set.
func (o Overrides) Apply(c *Capabilities) {
	if o.Currencies != nil {
		c.Currencies = append([]string(nil), o.Currencies...)
	}
	if o.Countries != nil {
		c.Countries = append([]string(nil), o.Countries...)
	}
}
