package providers

import (
	"errors"
	"math"
	"math/rand"
	"strconv"
	"testing"
)

func TestCurrencyTableWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range currencyTable {
		if len(c.code) != 3 || c.code[0] < 'A' || c.code[0] > 'Z' || c.code[1] < 'A' || c.code[1] > 'Z' || c.code[2] < 'A' || c.code[2] > 'Z' {
			t.Errorf("code %q is not 3 upper-case letters", c.code)
		}
		if seen[c.code] {
			t.Errorf("duplicate code %s", c.code)
		}
		seen[c.code] = true
		if c.exp < 0 || c.exp >= len(pow10) {
			t.Errorf("%s: exponent %d outside 0..%d", c.code, c.exp, len(pow10)-1)
		}
	}
	if len(currencyExp) != len(currencyTable) {
		t.Errorf("index has %d entries, table %d", len(currencyExp), len(currencyTable))
	}
	if len(currencyTable) < 160 {
		t.Errorf("table has only %d codes; ISO 4217 lists about 166 with a minor unit", len(currencyTable))
	}
}

func TestCurrencyExponentKnown(t *testing.T) {
	want := map[string]int{
		"EUR": 2, "USD": 2, "SEK": 2, "NOK": 2, "DKK": 2, "GBP": 2, "CHF": 2, "PLN": 2, "CZK": 2, "HUF": 2,
		"INR": 2, "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "XAF": 0, "XOF": 0, "XPF": 0, "UYI": 0,
		"KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3, "IQD": 3, "LYD": 3, "CLF": 4, "UYW": 4,
		"XCG": 2, "ZWG": 2, "SLE": 2, "VES": 2, "VED": 2,
	}
	for code, exp := range want {
		got, ok := CurrencyExponent(code)
		if !ok || got != exp {
			t.Errorf("CurrencyExponent(%q) = %d, %v; want %d, true", code, got, ok, exp)
		}
		if !ValidCurrency(code) {
			t.Errorf("ValidCurrency(%q) = false", code)
		}
	}
	for _, bad := range []string{"", "eur", "Eur", "EU", "EURO", " EUR", "XXX", "XAU", "XTS", "HRK", "ZWL", "ABC", "€"} {
		if _, ok := CurrencyExponent(bad); ok {
			t.Errorf("CurrencyExponent(%q) ok, want unknown", bad)
		}
		if ValidCurrency(bad) {
			t.Errorf("ValidCurrency(%q) = true", bad)
		}
	}
}

func TestFormatMinorGolden(t *testing.T) {
	cases := []struct {
		amount int64
		cur    string
		want   string
	}{
		{1999, "EUR", "19.99"},
		{5, "EUR", "0.05"},
		{0, "EUR", "0.00"},
		{100, "EUR", "1.00"},
		{10, "SEK", "0.10"},
		{1999, "JPY", "1999"},
		{0, "JPY", "0"},
		{1234, "KWD", "1.234"},
		{1, "KWD", "0.001"},
		{1, "CLF", "0.0001"},
		{123456789, "UYW", "12345.6789"},
		{999, "ISK", "999"},
		{math.MaxInt64, "EUR", "92233720368547758.07"},
		{math.MaxInt64, "JPY", "9223372036854775807"},
		{math.MaxInt64, "CLF", "922337203685477.5807"},
	}
	for _, c := range cases {
		got, err := FormatMinor(c.amount, c.cur)
		if err != nil || got != c.want {
			t.Errorf("FormatMinor(%d, %s) = %q, %v; want %q", c.amount, c.cur, got, err, c.want)
		}
	}
}

func TestFormatMinorErrors(t *testing.T) {
	cases := []struct {
		amount int64
		cur    string
		field  string
	}{
		{-1, "EUR", "amount"},
		{math.MinInt64, "JPY", "amount"},
		{100, "eur", "currency"},
		{100, "XXX", "currency"},
		{100, "", "currency"},
	}
	for _, c := range cases {
		got, err := FormatMinor(c.amount, c.cur)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("FormatMinor(%d, %q) = %q, %v; want *Error", c.amount, c.cur, got, err)
		}
		if e.Type != TypeInvalidRequest || e.Field != c.field || e.Message == "" {
			t.Errorf("FormatMinor(%d, %q): error %+v, want invalid_request on %s", c.amount, c.cur, e, c.field)
		}
	}
}

func TestParseMinorGolden(t *testing.T) {
	cases := []struct {
		s    string
		cur  string
		want int64
	}{
		{"19.99", "EUR", 1999},
		{"19.9", "EUR", 1990},
		{"19", "EUR", 1900},
		{"0.05", "EUR", 5},
		{"0", "EUR", 0},
		{"0.00", "EUR", 0},
		{"007.50", "EUR", 750},
		{"9.99", "EUR", 999},
		{"1999", "JPY", 1999},
		{"1.234", "KWD", 1234},
		{"1.2", "KWD", 1200},
		{"0.0001", "CLF", 1},
		{"12345.6789", "UYW", 123456789},
		{"92233720368547758.07", "EUR", math.MaxInt64},
		{"9223372036854775807", "JPY", math.MaxInt64},
		{"922337203685477.5807", "CLF", math.MaxInt64},
		{"92233720368547758", "EUR", 9223372036854775800},
	}
	for _, c := range cases {
		got, err := ParseMinor(c.s, c.cur)
		if err != nil || got != c.want {
			t.Errorf("ParseMinor(%q, %s) = %d, %v; want %d", c.s, c.cur, got, err, c.want)
		}
	}
}

func TestParseMinorRejects(t *testing.T) {
	cases := []struct{ s, cur string }{
		{"", "EUR"},
		{"-1.00", "EUR"},
		{"+1.00", "EUR"},
		{" 1.00", "EUR"},
		{"1.00 ", "EUR"},
		{"1 000.00", "EUR"},
		{"1,00", "EUR"},
		{"1e2", "EUR"},
		{"1E2", "EUR"},
		{".5", "EUR"},
		{"5.", "EUR"},
		{".", "EUR"},
		{"1.2.3", "EUR"},
		{"19.999", "EUR"},
		{"1.5", "JPY"},
		{"1.0", "JPY"},
		{"1.", "JPY"},
		{"1.23456", "CLF"},
		{"0x10", "EUR"},
		{"1_000", "EUR"},
		{"NaN", "EUR"},
		{"Inf", "EUR"},
		{"١٢", "EUR"}, // Arabic-Indic digits
		{"92233720368547758.08", "EUR"},
		{"92233720368547759", "EUR"},
		{"9223372036854775808", "JPY"},
		{"99999999999999999999999", "JPY"},
		{"922337203685477.5808", "CLF"},
		{"19.99", "eur"},
		{"19.99", "XXX"},
		{"19.99", ""},
	}
	for _, c := range cases {
		if got, err := ParseMinor(c.s, c.cur); err == nil {
			t.Errorf("ParseMinor(%q, %q) = %d, nil; want error", c.s, c.cur, got)
		} else {
			var e *Error
			if errors.As(err, &e) {
				t.Errorf("ParseMinor(%q, %q) returned *Error; want a plain error", c.s, c.cur)
			}
		}
	}
}

// TestRoundTripAllCurrencies is the property test: for every currency in
// the table, FormatMinor then ParseMinor gives back the same amount, and the
// string has exactly the currency's exponent fraction digits.
func TestRoundTripAllCurrencies(t *testing.T) {
	rng := rand.New(rand.NewSource(4217))
	fixed := []int64{0, 1, 5, 9, 10, 99, 100, 101, 999, 1000, 1999, 10000, 123456789,
		math.MaxInt32, math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 / 10, math.MaxInt64 / 100}
	for _, c := range currencyTable {
		amounts := append([]int64(nil), fixed...)
		for i := 0; i < 300; i++ {
			// Spread over magnitudes: pick a digit count, then a value below it.
			digits := 1 + rng.Intn(18)
			amounts = append(amounts, rng.Int63n(pow10i(digits)))
		}
		for i := 0; i < 50; i++ {
			amounts = append(amounts, math.MaxInt64-rng.Int63n(1_000_000))
		}
		for _, x := range amounts {
			s, err := FormatMinor(x, c.code)
			if err != nil {
				t.Fatalf("FormatMinor(%d, %s): %v", x, c.code, err)
			}
			if c.exp == 0 {
				if s != strconv.FormatInt(x, 10) {
					t.Fatalf("FormatMinor(%d, %s) = %q, want plain integer", x, c.code, s)
				}
			} else if len(s) < c.exp+2 || s[len(s)-c.exp-1] != '.' {
				t.Fatalf("FormatMinor(%d, %s) = %q, want %d fraction digits", x, c.code, s, c.exp)
			}
			got, err := ParseMinor(s, c.code)
			if err != nil || got != x {
				t.Fatalf("ParseMinor(FormatMinor(%d, %s) = %q) = %d, %v", x, c.code, s, got, err)
			}
		}
	}
}

// pow10i is 10^n for the test's magnitude spread (n ≤ 18 fits int64).
func pow10i(n int) int64 {
	p := int64(1)
	for i := 0; i < n; i++ {
		p *= 10
	}
	return p
}

func FuzzParseMinor(f *testing.F) {
	for _, s := range []string{"19.99", "0.05", "19", "1.5", "", ".5", "5.", "-1", "1e3",
		"92233720368547758.07", "92233720368547758.08", "007.50", "1.2.3"} {
		for _, cur := range []string{"EUR", "JPY", "KWD", "CLF", "eur"} {
			f.Add(s, cur)
		}
	}
	f.Fuzz(func(t *testing.T, s, cur string) {
		v, err := ParseMinor(s, cur)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseMinor(%q, %q) = %d, negative", s, cur, v)
		}
		out, err := FormatMinor(v, cur)
		if err != nil {
			t.Fatalf("FormatMinor(%d, %q) after successful parse: %v", v, cur, err)
		}
		back, err := ParseMinor(out, cur)
		if err != nil || back != v {
			t.Fatalf("ParseMinor(%q) = %d, %v; want %d (from %q)", out, back, err, v, s)
		}
	})
}
