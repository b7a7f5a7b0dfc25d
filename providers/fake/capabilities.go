package fake

import (
	"slices"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Currencies, countries and limits the fake advertises. They are fixed: the
// fake exists to exercise the gateway, not to model an account.
var (
	currencies      = []string{"EUR", "GBP", "SEK"}
	countries       = []string{"DE", "FI", "GB", "SE"}
	payoutCountries = []string{"DE", "SE"}
)

// Capabilities implements providers.Provider.
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Type:            "fake",
		Test:            true,
		Currencies:      slices.Clone(currencies),
		Countries:       slices.Clone(countries),
		PayoutCountries: slices.Clone(payoutCountries),
		Operations: []string{
			providers.OpCreatePayment, providers.OpGetPayment, providers.OpFindPayment,
			providers.OpRefund, providers.OpGetRefund, providers.OpPayout, providers.OpGetPayout,
			providers.OpNotifications,
		},
		RequiredFields: []string{},
		Limits:         map[string]int{"reference": MaxReference},
	}
}

// ValidatePayment implements providers.Provider.
func (p *Provider) ValidatePayment(req *providers.CreatePayment) error {
	if len(req.Reference) > MaxReference {
		return providers.Invalid("reference", "must be at most %d characters for the fake provider", MaxReference)
	}
	if !slices.Contains(currencies, req.Currency) {
		return providers.Invalid("currency", "must be one of %v for the fake provider", currencies)
	}
	return nil
}

// ValidateRefund implements providers.Refunder.
func (p *Provider) ValidateRefund(req *providers.RefundRequest) error {
	if req.Amount <= 0 {
		return providers.Invalid("amount", "must be a positive number of minor units")
	}
	if req.PaymentAmount > 0 && req.Amount > req.PaymentAmount {
		return providers.Invalid("amount", "must not exceed the payment amount")
	}
	return nil
}

// ValidatePayout implements providers.PayoutSender.
func (p *Provider) ValidatePayout(req *providers.CreatePayout) error {
	if len(req.Reference) > MaxReference {
		return providers.Invalid("reference", "must be at most %d characters for the fake provider", MaxReference)
	}
	if !slices.Contains(currencies, req.Currency) {
		return providers.Invalid("currency", "must be one of %v for the fake provider", currencies)
	}
	if req.BankAccount == nil {
		return providers.Missing("bank_account")
	}
	if !slices.Contains(payoutCountries, req.BankAccount.Country) {
		return providers.Invalid("bank_account.country", "must be one of %v for the fake provider", payoutCountries)
	}
	if req.BankAccount.IBAN == "" {
		return providers.Missing("bank_account.iban")
	}
	return nil
}
