package sandbox

import (
	"slices"
	"strconv"
	"strings"
)

// Razorpay's currency table (reference §11.1): the currencies it lists and
// their exponents. A currency outside the table is refused, as one not
// enabled for the account would be.
var (
	rzpExponent0 = strings.Fields("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF")
	rzpExponent3 = strings.Fields("BHD IQD JOD KWD OMR TND")
	rzpExponent2 = strings.Fields(`AED ALL AMD AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BZD CAD
		CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ETB EUR FJD GBP GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR
		ILS INR JMD KES KGS KHR KYD KZT LAK LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD
		NGN NIO NOK NPR NZD PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SCR SEK SGD SLL SOS SVC SZL THB TRY TTD TWD
		TZS UAH USD UYU UZS XCD YER ZAR ZMW`)
)

// rzpCurrencyExponent returns the exponent of a listed currency.
func rzpCurrencyExponent(cur string) (int, bool) {
	switch {
	case slices.Contains(rzpExponent2, cur):
		return 2, true
	case slices.Contains(rzpExponent0, cur):
		return 0, true
	case slices.Contains(rzpExponent3, cur):
		return 3, true
	}
	return 0, false
}

// rzpFormatAmount renders subunits as a decimal string ("1.00", "1",
// "1.000") in integer arithmetic.
func rzpFormatAmount(minor int64, cur string) string {
	exp, _ := rzpCurrencyExponent(cur)
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	s := strconv.FormatInt(minor, 10)
	if exp == 0 {
		return sign + s
	}
	for len(s) <= exp {
		s = "0" + s
	}
	return sign + s[:len(s)-exp] + "." + s[len(s)-exp:]
}

// rzpMinimum is the smallest order amount: one major unit, as INR's
// documented 100 paise ("The amount must be at least INR 1.00"); the same
// pattern is assumed for the other currencies (reference §11.2, [U]).
func rzpMinimum(cur string) int64 {
	exp, _ := rzpCurrencyExponent(cur)
	m := int64(1)
	for range exp {
		m *= 10
	}
	return m
}

// rzpCheckAmountCurrency validates the amount and currency of a create
// request (order or payment) and returns them.
func rzpCheckAmountCurrency(b rzpBody) (int64, string, *rzpError) {
	amount, ok, e := b.integer("amount")
	if e != nil {
		return 0, "", e
	}
	if !ok {
		return 0, "", rzpBad("amount", "The amount field is required.")
	}
	cur, ok, e := b.str("currency")
	if e != nil {
		return 0, "", e
	}
	if !ok || cur == "" {
		return 0, "", rzpBad("currency", "The currency field is required.")
	}
	if len(cur) != 3 {
		return 0, "", rzpBad("currency", "The currency must be 3 characters.")
	}
	if _, listed := rzpCurrencyExponent(cur); !listed {
		return 0, "", rzpBad("currency", "Currency is not supported")
	}
	if min := rzpMinimum(cur); amount < min {
		return 0, "", rzpBad("amount", "The amount must be at least "+cur+" "+rzpFormatAmount(min, cur))
	}
	return amount, cur, nil
}
