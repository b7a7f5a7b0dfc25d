package payabl

import (
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy-payments/caddy-payments/providers"
)

// text checks a free-text value against payabl's rules: Latin-1 only and
// at most max characters (max 0 = no limit). field is the canonical name
// the merchant used, so the error points at their input.
func text(field, value string, max int) error {
	if !isLatin1(value) {
		return providers.Invalid(field, "%s contains characters outside ISO-8859-1 (Latin-1), which payabl cannot receive", field)
	}
	if max > 0 && utf8.RuneCountInString(value) > max {
		return providers.Invalid(field, "%s must be at most %d characters for payabl", field, max)
	}
	return nil
}

// limited is text with the limit from the limits table.
func limited(field, value string) error {
	return text(field, value, limits[field])
}

// wireURL checks a URL payabl redirects to or posts to: http(s), at most
// 255 characters (reference §5: url_* lengths are unconfirmed, 255 is the
// most plausible and what the seed states).
func wireURL(field, value string) error {
	if value == "" {
		return nil
	}
	if !strings.HasPrefix(value, "http://") && !strings.HasPrefix(value, "https://") {
		return providers.Invalid(field, "%s must start with http:// or https:// for payabl", field)
	}
	return text(field, value, 255)
}

// wireAmount formats a canonical amount for payabl and checks its rule:
// positive, and "8.2" digits (at most 8 before the point, reference §5).
func wireAmount(field string, amount int64, currency string) (string, error) {
	if amount <= 0 {
		return "", providers.Invalid(field, "%s must be greater than 0", field)
	}
	if !contains(currencies, currency) {
		return "", providers.Invalid("currency", "currency %s is not supported by payabl Trustly (supported: %s)", currency, strings.Join(currencies, ", "))
	}
	s, err := providers.FormatMinor(amount, currency)
	if err != nil {
		return "", err
	}
	intPart, _, _ := strings.Cut(s, ".")
	if len(intPart) > 8 {
		return "", providers.Invalid(field, "%s must have at most 8 digits before the decimal point for payabl", field)
	}
	return s, nil
}

// wireBirthday converts a canonical YYYY-MM-DD date to payabl's ddmmyyyy.
func wireBirthday(field, date string) (string, error) {
	if date == "" {
		return "", nil
	}
	t, err := time.Parse("2006-01-02", date)
	if err != nil {
		return "", providers.Invalid(field, "%s must be a date in YYYY-MM-DD form", field)
	}
	return t.Format("02012006"), nil
}

// wirePhone turns a canonical phone number into payabl's "numeric, max 20"
// form. payabl accepts only digits, so the leading "+" of an international
// number and the usual visual separators (spaces, '-', '.', '/', brackets)
// are removed; the country code digits are kept ("+46 70-123 45 67" →
// "46701234567"). Anything else is an error rather than a guess.
func wirePhone(field, phone string) (string, error) {
	if phone == "" {
		return "", nil
	}
	s := strings.TrimSpace(phone)
	s = strings.TrimPrefix(s, "+")
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '/', '(', ')':
			return -1
		}
		return r
	}, s)
	if !allDigits(s) {
		return "", providers.Invalid(field, "%s must be a phone number of digits (a leading + and spaces, dashes, dots, slashes or brackets are removed) for payabl", field)
	}
	if len(s) > limits[field] {
		return "", providers.Invalid(field, "%s must be at most %d digits for payabl", field, limits[field])
	}
	return s, nil
}

// wireCountry converts a canonical alpha-2 country to payabl's alpha-3.
func wireCountry(field, alpha2 string) (string, error) {
	if alpha2 == "" {
		return "", nil
	}
	a3, ok := providers.Alpha3(alpha2)
	if !ok {
		return "", providers.Invalid(field, "%s must be an ISO 3166-1 alpha-2 code", field)
	}
	return a3, nil
}

// trustlyLanguages are the languages Trustly pages support on payabl
// (seed, `language` row).
var trustlyLanguages = []string{"da", "de", "en", "es", "et", "fi", "fr", "lt", "lv", "nl", "no", "pl", "ru", "sk", "sv"}

func wireLanguage(field, lang string) (string, error) {
	if lang == "" {
		return "", nil
	}
	l := strings.ToLower(lang)
	if !contains(trustlyLanguages, l) {
		return "", providers.Invalid(field, "%s must be one of %s for payabl Trustly", field, strings.Join(trustlyLanguages, " "))
	}
	return l, nil
}

func wireIP(field, ip string) (string, error) {
	if ip == "" {
		return "", nil
	}
	if net.ParseIP(ip) == nil {
		return "", providers.Invalid(field, "%s must be an IPv4 or IPv6 address", field)
	}
	if len(ip) > limits[field] {
		return "", providers.Invalid(field, "%s must be at most %d characters for payabl", field, limits[field])
	}
	return ip, nil
}

// wireEmail checks the email: at most 50 characters, one '@' with text on
// both sides (a light RFC 822 check; the host validated the shape).
func wireEmail(field, email string) (string, error) {
	if email == "" {
		return "", nil
	}
	if err := limited(field, email); err != nil {
		return "", err
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(email, " \t\r\n") {
		return "", providers.Invalid(field, "%s must be an email address", field)
	}
	return email, nil
}

// wireReference checks a merchant reference sent as orderid: at most 30
// characters. The reference documents 40 for the APM pre-auth but 30 for
// the Web SDK and for tx_diagnose by orderid; 30 keeps every payment
// findable by reference (reference §5).
func wireReference(field, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	if err := text(field, ref, 30); err != nil {
		return "", err
	}
	if strings.ContainsAny(ref, "\r\n\t") {
		return "", providers.Invalid(field, "%s must not contain control characters", field)
	}
	return ref, nil
}

// first returns the first error of errs (validation stops at the first
// problem, in field order).
func first(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
