package caddymodule

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Canonical limits, independent of any provider (providers add their own,
// stricter ones in ValidatePayment).
const (
	maxReference   = 64
	maxAmount      = 1_000_000_000_000 // minor units; far above any Trustly limit
	maxText        = 255
	maxURL         = 2048
	maxMetadata    = 20
	maxMetadataKey = 40
	maxMetadataVal = 500
)

var (
	referenceRe = regexp.MustCompile(`^[A-Za-z0-9._:/-]+$`)
	languageRe  = regexp.MustCompile(`^[a-z]{2}$`)
	phoneRe     = regexp.MustCompile(`^\+?[0-9]{4,15}$`)
)

// validatePayment applies the canonical rules to a decoded create-payment
// request. Each failure names the field and the rule.
func validatePayment(req *providers.CreatePayment) *providers.Error {
	if e := validateReference("reference", req.Reference, true); e != nil {
		return e
	}
	if e := validateMoney(req.Amount, req.Currency); e != nil {
		return e
	}
	if e := validateText("description", req.Description, maxText); e != nil {
		return e
	}
	if req.Language != "" && !languageRe.MatchString(req.Language) {
		return providers.Invalid("language", "language must be a lower-case ISO 639-1 code such as \"en\"")
	}
	for _, u := range []struct{ field, val string }{
		{"return_url", req.ReturnURL}, {"success_url", req.SuccessURL}, {"failure_url", req.FailureURL},
	} {
		if e := validateURL(u.field, u.val); e != nil {
			return e
		}
	}
	if req.ReturnURL == "" && req.SuccessURL == "" {
		return providers.Invalid("return_url", "return_url (or success_url) is required: the customer must be sent somewhere after paying")
	}
	if e := validateCustomer("customer", &req.Customer); e != nil {
		return e
	}
	if len(req.Metadata) > maxMetadata {
		return providers.Invalid("metadata", "metadata may hold at most %d keys", maxMetadata)
	}
	for k, v := range req.Metadata {
		if k == "" || len(k) > maxMetadataKey {
			return providers.Invalid("metadata", "metadata keys must be 1-%d characters", maxMetadataKey)
		}
		if e := validateText("metadata."+k, v, maxMetadataVal); e != nil {
			return e
		}
	}
	return nil
}

func validateReference(field, ref string, required bool) *providers.Error {
	if ref == "" {
		if required {
			return providers.Missing(field)
		}
		return nil
	}
	if len(ref) > maxReference || !referenceRe.MatchString(ref) {
		return providers.Invalid(field, "%s must be 1-%d characters of A-Z, a-z, 0-9 and . _ : / -", field, maxReference)
	}
	return nil
}

// validateMoney checks an integer minor-unit amount and its currency.
func validateMoney(amount int64, currency string) *providers.Error {
	if currency == "" {
		return providers.Missing("currency")
	}
	if !providers.ValidCurrency(currency) {
		return providers.Invalid("currency", "currency must be an upper-case ISO 4217 code such as \"EUR\"")
	}
	if amount <= 0 {
		return providers.Invalid("amount", "amount must be a positive integer number of minor units")
	}
	if amount > maxAmount {
		return providers.Invalid("amount", "amount must be at most %d minor units", int64(maxAmount))
	}
	return nil
}

// validateText rejects control characters, invalid UTF-8 and over-long
// values (length in characters).
func validateText(field, s string, max int) *providers.Error {
	return validateSubText("", field, s, max)
}

// validateSubText is validateText of the field prefix.field (field alone
// when prefix is empty); the name is only built for an error.
func validateSubText(prefix, field, s string, max int) *providers.Error {
	var rule string
	switch {
	case !utf8.ValidString(s):
		rule = "must be valid UTF-8"
	case utf8.RuneCountInString(s) > max:
		rule = fmt.Sprintf("must be at most %d characters", max)
	default:
		for _, r := range s {
			if unicode.IsControl(r) {
				rule = "must not contain control characters"
				break
			}
		}
	}
	if rule == "" {
		return nil
	}
	if prefix != "" {
		field = prefix + "." + field
	}
	return providers.Invalid(field, "%s %s", field, rule)
}

// validateURL accepts an empty value or an absolute http(s) URL.
func validateURL(field, s string) *providers.Error {
	if s == "" || urlOK(s) {
		return nil
	}
	return providers.Invalid(field, "%s must be an absolute http or https URL without credentials", field)
}

// urlOK reports whether s is an absolute http(s) URL without credentials.
func urlOK(s string) bool {
	u, err := url.Parse(s)
	return err == nil && len(s) <= maxURL && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

func validateCustomer(prefix string, c *providers.Customer) *providers.Error {
	texts := []struct{ field, val string }{
		{"id", c.ID}, {"first_name", c.FirstName}, {"last_name", c.LastName},
		{"user_agent", c.UserAgent},
	}
	for _, t := range texts {
		if e := validateSubText(prefix, t.field, t.val, maxText); e != nil {
			return e
		}
	}
	if c.Email != "" {
		a, err := mail.ParseAddress(c.Email)
		if err != nil || a.Address != c.Email || len(c.Email) > 254 {
			return providers.Invalid(prefix+".email", "%s.email must be a plain e-mail address such as jane@example.com", prefix)
		}
	}
	if c.Phone != "" && !phoneRe.MatchString(c.Phone) {
		return providers.Invalid(prefix+".phone", "%s.phone must be in E.164 form: + and 4-15 digits", prefix)
	}
	if c.Country != "" && !providers.ValidCountry(c.Country) {
		return providers.Invalid(prefix+".country", "%s.country must be an ISO 3166-1 alpha-2 code", prefix)
	}
	if c.BirthDate != "" {
		d, err := time.Parse("2006-01-02", c.BirthDate)
		if err != nil || d.After(time.Now()) || d.Year() < 1900 {
			return providers.Invalid(prefix+".birth_date", "%s.birth_date must be a past date in YYYY-MM-DD form", prefix)
		}
	}
	if c.IP != "" && net.ParseIP(c.IP) == nil {
		return providers.Invalid(prefix+".ip", "%s.ip must be an IPv4 or IPv6 address (the customer's)", prefix)
	}
	if c.Referer != "" && !urlOK(c.Referer) {
		return validateURL(prefix+".referer", c.Referer)
	}
	if a := c.Address; a != nil {
		for _, t := range []struct{ field, val string }{
			{"line1", a.Line1}, {"line2", a.Line2}, {"city", a.City}, {"postal_code", a.PostalCode}, {"state", a.State},
		} {
			if e := validateSubText(prefix+".address", t.field, t.val, 100); e != nil {
				return e
			}
		}
	}
	return nil
}

// checkCapabilities refuses what the chosen account cannot do, before
// anything is sent.
func checkCapabilities(name string, caps providers.Capabilities, req *providers.CreatePayment) *providers.Error {
	currency, country := req.Currency, req.Customer.Country
	if len(caps.Currencies) > 0 && !contains(caps.Currencies, currency) {
		return providers.Invalid("currency", "currency %s is not supported by provider %s (supported: %s)", currency, name, strings.Join(caps.Currencies, ", "))
	}
	if country != "" && len(caps.Countries) > 0 && !contains(caps.Countries, country) {
		return providers.Invalid("customer.country", "customer.country %s is not supported by provider %s (supported: %s)", country, name, strings.Join(caps.Countries, ", "))
	}
	for _, f := range caps.RequiredFields {
		get, known := requiredGetters[f]
		if known && get(req) == "" {
			e := providers.Missing(f)
			e.Message = f + " is required by provider " + name
			return e
		}
	}
	return nil
}

// requiredGetters reads the canonical fields a provider may declare as
// required in Capabilities.RequiredFields.
var requiredGetters = map[string]func(*providers.CreatePayment) string{
	"description":         func(r *providers.CreatePayment) string { return r.Description },
	"language":            func(r *providers.CreatePayment) string { return r.Language },
	"return_url":          func(r *providers.CreatePayment) string { return r.ReturnURL },
	"success_url":         func(r *providers.CreatePayment) string { return r.SuccessURL },
	"failure_url":         func(r *providers.CreatePayment) string { return r.FailureURL },
	"customer.id":         func(r *providers.CreatePayment) string { return r.Customer.ID },
	"customer.first_name": func(r *providers.CreatePayment) string { return r.Customer.FirstName },
	"customer.last_name":  func(r *providers.CreatePayment) string { return r.Customer.LastName },
	"customer.email":      func(r *providers.CreatePayment) string { return r.Customer.Email },
	"customer.phone":      func(r *providers.CreatePayment) string { return r.Customer.Phone },
	"customer.country":    func(r *providers.CreatePayment) string { return r.Customer.Country },
	"customer.birth_date": func(r *providers.CreatePayment) string { return r.Customer.BirthDate },
	"customer.ip":         func(r *providers.CreatePayment) string { return r.Customer.IP },
	"customer.user_agent": func(r *providers.CreatePayment) string { return r.Customer.UserAgent },
	"customer.referer":    func(r *providers.CreatePayment) string { return r.Customer.Referer },
	"customer.address": func(r *providers.CreatePayment) string {
		if r.Customer.Address == nil {
			return ""
		}
		return "x"
	},
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
