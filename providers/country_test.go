package providers

import "testing"

func TestCountryTableWellFormed(t *testing.T) {
	if len(countryTable) != 249 {
		t.Errorf("table has %d entries, want the 249 officially assigned ISO 3166-1 codes", len(countryTable))
	}
	seen2, seen3 := map[string]bool{}, map[string]bool{}
	for _, c := range countryTable {
		if !isUpper(c.alpha2, 2) || !isUpper(c.alpha3, 3) {
			t.Errorf("malformed row %q/%q", c.alpha2, c.alpha3)
		}
		if seen2[c.alpha2] || seen3[c.alpha3] {
			t.Errorf("duplicate row %s/%s", c.alpha2, c.alpha3)
		}
		seen2[c.alpha2], seen3[c.alpha3] = true, true
	}
}

// isUpper reports whether s is exactly n ASCII upper-case letters.
func isUpper(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func TestCountryRoundTripEveryEntry(t *testing.T) {
	for _, c := range countryTable {
		if !ValidCountry(c.alpha2) {
			t.Errorf("ValidCountry(%s) = false", c.alpha2)
		}
		a3, ok := Alpha3(c.alpha2)
		if !ok || a3 != c.alpha3 {
			t.Errorf("Alpha3(%s) = %q, %v; want %s", c.alpha2, a3, ok, c.alpha3)
		}
		a2, ok := Alpha2(a3)
		if !ok || a2 != c.alpha2 {
			t.Errorf("Alpha2(%s) = %q, %v; want %s", a3, a2, ok, c.alpha2)
		}
	}
}

func TestCountryKnownPairs(t *testing.T) {
	pairs := map[string]string{
		"SE": "SWE", "DE": "DEU", "GB": "GBR", "CY": "CYP", "FI": "FIN", "AT": "AUT", "NL": "NLD",
		"NO": "NOR", "DK": "DNK", "EE": "EST", "LV": "LVA", "LT": "LTU", "ES": "ESP", "CZ": "CZE",
		"SK": "SVK", "PL": "POL", "BE": "BEL", "AX": "ALA", "XK": "", "SS": "SSD", "CW": "CUW",
	}
	for a2, want := range pairs {
		got, ok := Alpha3(a2)
		if want == "" {
			// XK (Kosovo) is user-assigned, not officially assigned.
			if ok || ValidCountry(a2) {
				t.Errorf("Alpha3(%s) = %q, %v; want not found", a2, got, ok)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("Alpha3(%s) = %q, %v; want %s", a2, got, ok, want)
		}
		back, ok := Alpha2(want)
		if !ok || back != a2 {
			t.Errorf("Alpha2(%s) = %q, %v; want %s", want, back, ok, a2)
		}
	}
}

func TestCountryRejectsNonCanonical(t *testing.T) {
	for _, s := range []string{"se", "Se", "sE", "", "S", "SWE", " SE", "SE ", "UK", "EU", "ZZ"} {
		if ValidCountry(s) {
			t.Errorf("ValidCountry(%q) = true", s)
		}
		if got, ok := Alpha3(s); ok {
			t.Errorf("Alpha3(%q) = %q, true", s, got)
		}
	}
	for _, s := range []string{"swe", "Swe", "", "SE", "SWEE", "GBX"} {
		if got, ok := Alpha2(s); ok {
			t.Errorf("Alpha2(%q) = %q, true", s, got)
		}
	}
}
