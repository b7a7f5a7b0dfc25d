package payabl

import "regexp"

// payoutRule is one row of the seed's "Supported countries for payout"
// table. For IBAN countries the table has a single regex, which applies
// to the IBAN sent as accountnumber; for the others it has a bank number
// regex and an account number regex.
type payoutRule struct {
	country string // ISO 3166-1 alpha-2, as sent in bankcountry
	name    string // the table's BANK COUNTRY
	iban    *regexp.Regexp
	bank    *regexp.Regexp
	account *regexp.Regexp
}

func ibanRule(country, name, re string) payoutRule {
	return payoutRule{country: country, name: name, iban: regexp.MustCompile(re)}
}

func bankRule(country, name, bank, account string) payoutRule {
	return payoutRule{country: country, name: name, bank: regexp.MustCompile(bank), account: regexp.MustCompile(account)}
}

// payoutRules is the seed table verbatim (regexes unchanged).
var payoutRules = []payoutRule{
	ibanRule("AT", "AUSTRIA", `^AT[0-9]{18}$`),
	ibanRule("BE", "BELGIUM", `^BE[0-9]{14}$`),
	ibanRule("BG", "BULGARIA", `^BG[0-9]{2}[A-Z]{4}[0-9]{4}[0-9]{2}[A-Z0-9]{8}$`),
	ibanRule("HR", "CROATIA", `^HR[0-9]{2}[0-9]{7}[0-9]{10}$`),
	ibanRule("CY", "CYPRUS", `^CY[0-9]{10}[0-9A-Z]{16}$`),
	bankRule("CZ", "CZECH_REPUBLIC", `^[0-9]{4}$`, `^[0-9]{16}$`),
	bankRule("DK", "DENMARK", `^[0-9]{4}$`, `^[0-9]{4,10}$`),
	bankRule("EE", "ESTONIA", `^[0-9]{2}$`, `^[0-9]{4,14}$`),
	ibanRule("FI", "FINLAND", `^FI[0-9]{16}$`),
	ibanRule("FR", "FRANCE", `^FR[0-9]{12}[0-9A-Z]{11}[0-9]{2}$`),
	ibanRule("DE", "GERMANY", `^DE[0-9]{20}$`),
	ibanRule("GR", "GREECE", `^GR[0-9]{25}$`),
	bankRule("HU", "HUNGARY", `^[0-9]{8}$`, `^[0-9]{24}$`),
	ibanRule("IE", "IRELAND", `^IE[0-9]{2}[A-Z]{4}[0-9]{14}$`),
	ibanRule("IT", "ITALY", `^IT[0-9]{2}[A-Z][0-9]{10}[0-9A-Z]{12}$`),
	ibanRule("LV", "LATVIA", `^LV[0-9]{2}[A-Z]{4}[0-9A-Z]{13}$`),
	ibanRule("LT", "LITHUANIA", `^LT[0-9]{18}$`),
	ibanRule("LU", "LUXEMBOURG", `^LU[0-9]{18}$`),
	ibanRule("MT", "MALTA", `^MT[0-9]{2}[A-Z]{4}[0-9]{5}[0-9A-Z]{18}$`),
	ibanRule("NL", "NETHERLANDS", `^NL[0-9]{2}[A-Z]{4}[0-9]{10}$`),
	bankRule("NO", "NORWAY", `^[0-9]{4}$`, `^[0-9]{7}$`),
	ibanRule("PL", "POLAND", `^PL[0-9]{26}$`),
	bankRule("PT", "PORTUGAL", `^[0-9]{8}$`, `^[0-9]{13}$`),
	ibanRule("RO", "ROMANIA", `^RO[0-9]{2}[A-Z]{4}[0-9A-Z]{16}$`),
	ibanRule("SK", "SLOVAKIA", `^SK[0-9]{22}$`),
	ibanRule("SI", "SLOVENIA", `^SI56[0-9]{15}$`),
	ibanRule("ES", "SPAIN", `^ES[0-9]{22}$`),
	bankRule("SE", "SWEDEN", `^[0-9]{4,5}$`, `^[0-9]{1,15}$`),
	bankRule("GB", "UNITED_KINGDOM", `^[0-9]{6}$`, `^[0-9]{8}$`),
}

// payoutRuleFor returns the rule for an alpha-2 bank country.
func payoutRuleFor(country string) (payoutRule, bool) {
	for _, r := range payoutRules {
		if r.country == country {
			return r, true
		}
	}
	return payoutRule{}, false
}
