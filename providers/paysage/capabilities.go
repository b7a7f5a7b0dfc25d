package paysage

import (
	"github.com/caddy-payments/caddy-payments/providers"
)

// currencies are the only currencies of PaySage's Trustly integration
// ("This integration option supports only DKK, EUR, GBP, NOK and SEK").
var currencies = []string{"DKK", "EUR", "GBP", "NOK", "SEK"}

// countries is every ISO 3166-1 alpha-2 code: PaySage's Trustly page asks
// for the customer's country but restricts it to no list, so the gateway
// refuses none (Trustly itself decides which banks the customer sees).
var countries = func() []string {
	var out []string
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if c := string([]rune{a, b}); providers.ValidCountry(c) {
				out = append(out, c)
			}
		}
	}
	return out
}()

// requiredFields are the canonical fields PaySage's Trustly page marks
// required (customer first/last name, country, external_id) plus the
// platform's required description. return_url is required too, but any of
// return_url, success_url or failure_url satisfies it, which the host's
// list cannot say: ValidatePayment checks it.
var requiredFields = []string{
	"description", "customer.id", "customer.first_name", "customer.last_name", "customer.country",
}

// limits are PaySage's documented maximum lengths (APM payment fields:
// description string(255), tracking_id string(255)).
var limits = map[string]int{
	"reference":   255,
	"description": 255,
}

// Capabilities implements providers.Provider. Payouts are not offered:
// PaySage documents no payouts for Trustly (reference §8, open item 4).
// The shop's `currencies` and `countries` replace the defaults.
func (p *Provider) Capabilities() providers.Capabilities {
	l := make(map[string]int, len(limits))
	for k, v := range limits {
		l[k] = v
	}
	c := providers.Capabilities{
		Type:       "paysage",
		Test:       p.Test,
		Currencies: append([]string(nil), currencies...),
		Countries:  append([]string(nil), countries...),
		Operations: []string{
			providers.OpCreatePayment, providers.OpGetPayment, providers.OpFindPayment,
			providers.OpRefund, providers.OpGetRefund, providers.OpNotifications, providers.OpReturns,
		},
		RequiredFields: append([]string(nil), requiredFields...),
		Limits:         l,
	}
	p.Overrides.Apply(&c)
	return c
}

// accepts reports the currencies and customer countries this shop takes:
// the overrides where set, else PaySage Trustly's defaults.
func (p *Provider) accepts() (cur, cty []string) {
	cur, cty = currencies, countries
	if p.Overrides.Currencies != nil {
		cur = p.Overrides.Currencies
	}
	if p.Overrides.Countries != nil {
		cty = p.Overrides.Countries
	}
	return cur, cty
}
