package providers

import (
	"fmt"
	"strconv"
	"strings"
)

// currencyEntry is one row of the ISO 4217 table: the alphabetic code and
// the minor-unit exponent (how many decimal places the currency has).
type currencyEntry struct {
	code string
	exp  int
}

// currencyTable lists every ISO 4217 code (List One, current as of the 2025
// amendments, funds codes included) that has a minor unit. Codes whose minor
// unit is "N.A." (precious metals XAU/XAG/XPT/XPD, bond units XBA–XBD, XDR,
// XSU, XUA, the testing code XTS and "no currency" XXX) are left out on
// purpose: an amount in them cannot be expressed in minor units. Withdrawn
// codes (HRK, CUC, SLL, ZWL, ANG) are left out; their successors (EUR, SLE,
// ZWG, XCG) are in. It is a slice rather than a map literal so a test can
// prove it has no duplicate rows.
var currencyTable = []currencyEntry{
	{"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2}, {"AWG", 2},
	{"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0}, {"BMD", 2},
	{"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2},
	{"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0},
	{"CNY", 2}, {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0},
	{"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2},
	{"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0}, {"GTQ", 2},
	{"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2},
	{"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2},
	{"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2},
	{"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2},
	{"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2},
	{"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2}, {"NOK", 2},
	{"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2}, {"PKR", 2},
	{"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0}, {"SAR", 2},
	{"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2}, {"SLE", 2}, {"SOS", 2},
	{"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2},
	{"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2},
	{"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2},
	{"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAD", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2},
	{"XOF", 0}, {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
}

// currencyExp indexes currencyTable by code for O(1) lookups.
var currencyExp = func() map[string]int {
	m := make(map[string]int, len(currencyTable))
	for _, c := range currencyTable {
		m[c.code] = c.exp
	}
	return m
}()

// pow10 holds 10^n for the exponents that occur in the table (0–4).
var pow10 = [...]int64{1, 10, 100, 1000, 10000}

// CurrencyExponent returns the ISO 4217 minor-unit exponent of code (EUR 2,
// JPY 0, KWD 3, CLF 4). ok is false for an unknown code or one that is not
// exactly three upper-case letters: lower-case is rejected rather than
// normalised so every layer agrees on one canonical spelling.
func CurrencyExponent(code string) (exp int, ok bool) {
	exp, ok = currencyExp[code]
	return exp, ok
}

// ValidCurrency reports whether code is an upper-case ISO 4217 code with a
// minor unit.
func ValidCurrency(code string) bool {
	_, ok := currencyExp[code]
	return ok
}

// FormatMinor renders an amount in minor units as the decimal string
// providers expect, with exactly the currency's exponent digits after the
// point and no point at all for exponent 0: (1999, "EUR") → "19.99",
// (5, "EUR") → "0.05", (1999, "JPY") → "1999", (1234, "KWD") → "1.234".
// Integer arithmetic only, so no float rounding can change an amount.
func FormatMinor(amount int64, currency string) (string, error) {
	exp, ok := CurrencyExponent(currency)
	if !ok {
		return "", Invalid("currency", "currency must be an upper-case ISO 4217 code with a minor unit")
	}
	if amount < 0 {
		return "", Invalid("amount", "amount must not be negative")
	}
	digits := strconv.FormatInt(amount, 10)
	if exp == 0 {
		return digits, nil
	}
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp+1-len(digits)) + digits
	}
	cut := len(digits) - exp
	return digits[:cut] + "." + digits[cut:], nil
}

// ParseMinor parses a decimal amount from a provider reply into minor units
// of currency. It is strict because a lenient parser could silently change
// an amount: the input must be ASCII digits with an optional '.' followed by
// 1..exponent fraction digits ("19.99" → 1999, "19.9" → 1990, "19" → 1900).
// Signs, spaces, exponent notation, a leading or trailing '.', extra
// fraction digits ("19.999" for EUR, "1.5" for JPY) and values beyond int64
// are errors. Errors are plain (not *Error) because the caller knows which
// provider field it was and wraps them; they never echo the input.
func ParseMinor(s string, currency string) (int64, error) {
	exp, ok := CurrencyExponent(currency)
	if !ok {
		return 0, fmt.Errorf("amount currency is not an upper-case ISO 4217 code with a minor unit")
	}
	if s == "" {
		return 0, fmt.Errorf("amount is empty")
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" {
		return 0, fmt.Errorf("amount must have digits before the decimal point")
	}
	if !allDigits(intPart) {
		return 0, fmt.Errorf("amount must contain only digits and one decimal point")
	}
	if hasPoint {
		if frac == "" {
			return 0, fmt.Errorf("amount must not end with a decimal point")
		}
		if !allDigits(frac) {
			return 0, fmt.Errorf("amount must contain only digits and one decimal point")
		}
		if len(frac) > exp {
			return 0, fmt.Errorf("amount has %d fraction digits, %s allows at most %d", len(frac), currency, exp)
		}
	}
	whole, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount does not fit in 64-bit minor units")
	}
	var fracMinor int64
	if frac != "" {
		// frac has at most 4 digits here, so this cannot fail.
		f, _ := strconv.ParseInt(frac, 10, 64)
		fracMinor = f * pow10[exp-len(frac)]
	}
	scale := pow10[exp]
	if whole > (maxInt64-fracMinor)/scale {
		return 0, fmt.Errorf("amount does not fit in 64-bit minor units")
	}
	return whole*scale + fracMinor, nil
}

// maxInt64 is math.MaxInt64, spelled out to keep this file free of the
// float-oriented math package.
const maxInt64 = 1<<63 - 1

// allDigits reports whether s is non-empty ASCII digits only (strconv
// alone would also accept a sign).
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
