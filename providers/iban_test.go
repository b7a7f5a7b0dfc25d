package providers

import (
	"strings"
	"testing"
)

// validIBANs are published example IBANs (ECBS / SWIFT registry examples)
// and the payabl seed's Finnish test account.
var validIBANs = []string{
	"FI2112345600000785",
	"FI2618203060000015", // payabl seed document; passes mod-97
	"DE89370400440532013000",
	"GB29NWBK60161331926819",
	"SE4550000000058398257466",
	"NL91ABNA0417164300",
	"AT611904300234573201",
	"BE68539007547034",
	"NO9386011117947",
	"MT84MALT011000012345MTLCAST001S",
	"LC55HEMM000100010012001200023015",
	"RU0304452522540817810538091310419",
}

func TestValidIBANAcceptsExamples(t *testing.T) {
	for _, iban := range validIBANs {
		if err := ValidIBAN(iban); err != nil {
			t.Errorf("ValidIBAN(%s) = %v, want nil", iban, err)
		}
	}
}

func TestValidIBANRejects(t *testing.T) {
	cases := []struct {
		iban string
		rule string // substring the error must contain
	}{
		{"", "empty"},
		{"FI2112345600000786", "mod-97"},         // last digit changed
		{"FI2112345600000685", "mod-97"},         // inner digit changed
		{"DE89370400440532013001", "mod-97"},     // last digit changed
		{"GB29NWBK60161331926818", "mod-97"},     // last digit changed
		{"SE4550000000058398257467", "mod-97"},   // last digit changed
		{"NL91ABNA0417164301", "mod-97"},         // last digit changed
		{"NL19ABNA0417164300", "mod-97"},         // check digits transposed
		{"FI211234560000078", "must be 18"},      // one short
		{"FI21123456000007851", "must be 18"},    // one long
		{"DE8937040044053201300", "must be 22"},  // one short
		{"fi2112345600000785", "upper-case"},     // lower case
		{"Fi2112345600000785", "upper-case"},     // mixed case
		{"GB29nwbk60161331926819", "upper-case"}, // lower-case bank code
		{"FI21 1234 5600 0007 85", "spaces"},     // grouped
		{"FI21-12345600000785", "upper-case"},    // punctuation
		{"US2112345600000785", "registry"},       // no IBANs in the US
		{"XX2112345600000785", "registry"},       // not a country
		{"F", "registry"},
		{"FIAB12345600000785", "check digits"}, // check digits not numeric
		{"FI0012345600000785", "check digits"}, // 00 is never issued
		{"FI9912345600000785", "check digits"}, // 99 is never issued
	}
	for _, c := range cases {
		err := ValidIBAN(c.iban)
		if err == nil {
			t.Errorf("ValidIBAN(%q) = nil, want error about %q", c.iban, c.rule)
			continue
		}
		if !strings.Contains(err.Error(), c.rule) {
			t.Errorf("ValidIBAN(%q) = %q, want it to mention %q", c.iban, err, c.rule)
		}
		if len(c.iban) > 4 && strings.Contains(err.Error(), c.iban) {
			t.Errorf("ValidIBAN(%q) echoes the IBAN: %q", c.iban, err)
		}
	}
}

func TestValidIBANChecksumMessage(t *testing.T) {
	err := ValidIBAN("FI2112345600000786")
	if err == nil || err.Error() != "IBAN check digits do not match (ISO 13616 mod-97)" {
		t.Fatalf("got %v", err)
	}
	err = ValidIBAN("FI211234560000078")
	if err == nil || err.Error() != "IBAN for FI must be 18 characters" {
		t.Fatalf("got %v", err)
	}
}

// TestValidIBANEverySingleDigitChange proves mod-97 catches every
// single-digit substitution in a real IBAN (ISO 7064 guarantees this).
func TestValidIBANEverySingleDigitChange(t *testing.T) {
	for _, iban := range validIBANs {
		for i := 0; i < len(iban); i++ {
			if iban[i] < '0' || iban[i] > '9' {
				continue
			}
			for d := byte('0'); d <= '9'; d++ {
				if d == iban[i] {
					continue
				}
				bad := iban[:i] + string(d) + iban[i+1:]
				if ValidIBAN(bad) == nil {
					t.Errorf("ValidIBAN accepted %s (position %d changed)", bad, i)
				}
			}
		}
	}
}

func TestIBANLength(t *testing.T) {
	want := map[string]int{
		"FI": 18, "SE": 24, "DE": 22, "GB": 22, "NL": 18, "AT": 20, "NO": 15, "DK": 18, "EE": 20,
		"LV": 21, "LT": 20, "ES": 24, "CZ": 24, "SK": 24, "PL": 28, "BE": 16, "CY": 28, "FR": 27,
		"IT": 27, "IE": 22, "PT": 25, "CH": 21, "LI": 21, "IS": 26, "MT": 31, "LU": 20, "HU": 28,
		"SI": 19, "HR": 21, "RO": 24, "BG": 22, "GR": 27, "MC": 27, "SM": 27, "VA": 22, "AD": 24,
		"GI": 23, "AL": 28, "MD": 24, "ME": 22, "MK": 19, "RS": 22, "RU": 33, "LC": 32,
	}
	for c, n := range want {
		if got, ok := IBANLength(c); !ok || got != n {
			t.Errorf("IBANLength(%s) = %d, %v; want %d", c, got, ok, n)
		}
	}
	for _, c := range []string{"US", "fi", "", "FIN", "AX"} {
		if got, ok := IBANLength(c); ok {
			t.Errorf("IBANLength(%q) = %d, true; want unknown", c, got)
		}
	}
	for c, n := range ibanLengths {
		if !ValidCountry(c) && c != "XK" {
			t.Errorf("IBAN country %s is not an ISO 3166-1 code", c)
		}
		if n < 15 || n > 34 {
			t.Errorf("IBAN length for %s is %d, outside ISO 13616's 15..34", c, n)
		}
	}
}
