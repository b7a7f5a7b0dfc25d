package providers

import (
	"errors"
	"fmt"
)

// ibanLengths is the total IBAN length per country in the SWIFT IBAN
// registry (ISO 13616), covering every SEPA country and the other registry
// members. Territories that use another country's prefix (e.g. Åland with
// FI, Guadeloupe with FR, Jersey with GB) are not separate entries because
// their IBANs start with that country's code.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
	"DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
	"FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
	"GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
	"LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
	"MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
	"SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
	"YE": 30,
}

// IBANLength returns the registry length of an IBAN for an upper-case
// country code, and false when the country does not issue IBANs.
func IBANLength(country string) (int, bool) {
	n, ok := ibanLengths[country]
	return n, ok
}

// Errors returned by ValidIBAN. They state the rule that failed and never
// contain the IBAN itself, so they are safe for logs and API answers.
var (
	errIBANEmpty     = errors.New("IBAN is empty")
	errIBANChars     = errors.New("IBAN must contain only upper-case letters A-Z and digits 0-9, without spaces")
	errIBANCountry   = errors.New("IBAN must start with a country code known to the IBAN registry")
	errIBANCheckForm = errors.New("IBAN check digits (positions 3-4) must be two digits from 02 to 98")
	errIBANChecksum  = errors.New("IBAN check digits do not match (ISO 13616 mod-97)")
)

// ValidIBAN checks an IBAN written without spaces: upper-case country code
// known to the IBAN registry, the registry length for that country, only
// [A-Z0-9], and the ISO 7064 mod-97-10 check (remainder 1). It returns nil
// or an error naming the rule that failed. It does not check the
// country-specific BBAN layout or national check digits; the bank does.
func ValidIBAN(iban string) error {
	if iban == "" {
		return errIBANEmpty
	}
	for i := 0; i < len(iban); i++ {
		c := iban[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return errIBANChars
		}
	}
	if len(iban) < 2 {
		return errIBANCountry
	}
	country := iban[:2]
	want, ok := ibanLengths[country]
	if !ok {
		return errIBANCountry
	}
	if len(iban) != want {
		return fmt.Errorf("IBAN for %s must be %d characters", country, want)
	}
	if !allDigits(iban[2:4]) || iban[2:4] < "02" || iban[2:4] > "98" {
		return errIBANCheckForm
	}
	if ibanMod97(iban) != 1 {
		return errIBANChecksum
	}
	return nil
}

// ibanMod97 computes the ISO 7064 mod-97-10 remainder of an IBAN that holds
// only [A-Z0-9]: the first four characters move to the end, letters become
// 10..35, and the remainder is folded in digit by digit so no big integer
// is needed.
func ibanMod97(iban string) int {
	r := 0
	for i := 0; i < len(iban); i++ {
		c := iban[(i+4)%len(iban)]
		if c >= 'A' && c <= 'Z' {
			r = (r*100 + int(c-'A') + 10) % 97
		} else {
			r = (r*10 + int(c-'0')) % 97
		}
	}
	return r
}
