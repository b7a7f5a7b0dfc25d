package providers

import (
	"strings"
	"testing"
)

func TestMaskAccount(t *testing.T) {
	cases := map[string]string{
		"SE4550000000058398257466":      "****7466",
		"SE45 5000 0000 0583 9825 7466": "****7466",
		"FI2618203060000015":            "****0015",
		"12345":                         "****2345",
		"1234":                          "****",
		"123":                           "****",
		"":                              "****",
		"   ":                           "****",
		"1 2 3 4":                       "****",
		"ÅÄÖåäö":                        "****Öåäö",
	}
	for in, want := range cases {
		if got := MaskAccount(in); got != want {
			t.Errorf("MaskAccount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskAccountNeverLeaksMoreThanFour(t *testing.T) {
	for _, iban := range validIBANs {
		got := MaskAccount(iban)
		if !strings.HasPrefix(got, "****") || len(got) != 8 {
			t.Errorf("MaskAccount(%s) = %q", iban, got)
		}
		if strings.Contains(got, iban[:len(iban)-4]) {
			t.Errorf("MaskAccount(%s) leaks the prefix", iban)
		}
	}
}
