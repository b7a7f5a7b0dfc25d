package sandbox

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Field rules, from the payabl. Trustly page (seed 004) and the payabl.
// reference. The seed allows 50 characters for names; the gateway keeps to
// the stricter 30 of payabl.'s parameter list on its side.

// payablCurrencies are Trustly's customer currencies.
var payablCurrencies = setOf("BGN", "CZK", "DKK", "EUR", "GBP", "HRK", "HUF", "NOK", "PLN", "RON", "SEK")

// payablCountries are the alpha-3 customer countries Trustly supports.
var payablCountries = setOf("AUT", "BEL", "CZE", "DEU", "DNK", "EST", "ESP", "FIN", "GBR", "LTU", "LVA", "NLD", "NOR", "POL", "SWE", "SVK")

// payablLanguages are the languages Trustly pages can be shown in.
var payablLanguages = setOf("da", "de", "en", "es", "et", "fi", "fr", "lt", "lv", "nl", "no", "pl", "ru", "sk", "sv")

// payabl. status codes and messages the sandbox answers with.
var (
	errWrongPrice    = perr(-6102, "Wrong price")
	errWrongCurrency = perr(-6103, "Wrong currency")
	errWrongLastname = perr(-6105, "Wrong lastname")
	errWrongLanguage = perr(-6109, "Wrong language")
	errWrongFirst    = perr(-6113, "Wrong firstname")
	errWrongBirthday = perr(-6115, "Wrong birthday")
	errWrongEmail    = perr(-6119, "Wrong email")
	errWrongMethod   = perr(-1316, "Merchant payment method wrong or missing")
)

// errMissingFields is -6000, naming the offending field after a colon so a
// person reading a test failure knows what to fix.
func errMissingFields(field string) *payablErr {
	return perr(-6000, "Found wrong or missing fields: "+field)
}

func setOf(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// maxLen reports whether s has at most n characters.
func maxLen(s string, n int) bool { return utf8.RuneCountInString(s) <= n }

// checkAmountCurrency validates the two money fields every operation has.
func checkAmountCurrency(f payablForm) (int64, *payablErr) {
	minor, ok := parsePayablAmount(f["amount"])
	if !ok || minor <= 0 {
		return 0, errWrongPrice
	}
	if !payablCurrencies[f["currency"]] {
		return 0, errWrongCurrency
	}
	return minor, nil
}

// checkMethod requires payment_method=116 (Trustly), the only method the
// sandbox offers.
func checkMethod(f payablForm) *payablErr {
	if f["payment_method"] != "116" {
		return errWrongMethod
	}
	return nil
}

// validEmail is a pragmatic RFC 822 check: one "@", non-empty local part
// and a dotted domain, no spaces.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\r\n<>,;") &&
		!strings.Contains(domain, "@") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// validCallbackURL is the rule for url_* and notification_url: max 255
// characters, absolute http or https.
func validCallbackURL(s string) bool {
	if !maxLen(s, 255) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// checkPreauthFields validates a payment_preauthorize request after its
// signature was verified, in the order payabl. documents the fields.
func checkPreauthFields(f payablForm) (int64, *payablErr) {
	if e := checkMethod(f); e != nil {
		return 0, e
	}
	minor, e := checkAmountCurrency(f)
	if e != nil {
		return 0, e
	}
	if email := f["email"]; email == "" || !maxLen(email, 50) || !validEmail(email) {
		return 0, errWrongEmail
	}
	if !maxLen(f["firstname"], 50) {
		return 0, errWrongFirst
	}
	if !maxLen(f["lastname"], 50) {
		return 0, errWrongLastname
	}
	if l, ok := f["language"]; ok && l != "" && !payablLanguages[l] {
		return 0, errWrongLanguage
	}
	if c, ok := f["country"]; ok && c != "" && !payablCountries[c] {
		return 0, errMissingFields("country (ISO 3166 alpha-3, one of Trustly's countries)")
	}
	if !maxLen(f["orderid"], 40) {
		return 0, errMissingFields("orderid (max 40 characters)")
	}
	for _, name := range []string{"url_success", "url_failed", "url_return", "notification_url"} {
		if v, ok := f[name]; ok && v != "" && !validCallbackURL(v) {
			return 0, errMissingFields(name + " (absolute http(s) URL, max 255 characters)")
		}
	}
	for _, name := range []string{"custom1", "custom2", "custom3", "external_id"} {
		if !maxLen(f[name], 255) {
			return 0, errMissingFields(name + " (max 255 characters)")
		}
	}
	return minor, nil
}

// payoutRule is one row of the seed's "Supported countries for payout"
// table. IBAN countries have a single regex, which applies to
// accountnumber; the others have a banknumber regex and an accountnumber
// regex.
type payoutRule struct {
	name     string
	iban     bool
	bank     *regexp.Regexp
	account  *regexp.Regexp
	bankSrc  string
	accntSrc string
}

func ibanRule(name, re string) payoutRule {
	return payoutRule{name: name, iban: true, account: regexp.MustCompile(re), accntSrc: re}
}

func bankRule(name, bank, account string) payoutRule {
	return payoutRule{name: name, bank: regexp.MustCompile(bank), account: regexp.MustCompile(account), bankSrc: bank, accntSrc: account}
}

// payablPayoutRules is keyed by the ISO 3166-1 alpha-2 bankcountry.
var payablPayoutRules = map[string]payoutRule{
	"AT": ibanRule("AUSTRIA", `^AT[0-9]{18}$`),
	"BE": ibanRule("BELGIUM", `^BE[0-9]{14}$`),
	"BG": ibanRule("BULGARIA", `^BG[0-9]{2}[A-Z]{4}[0-9]{4}[0-9]{2}[A-Z0-9]{8}$`),
	"HR": ibanRule("CROATIA", `^HR[0-9]{2}[0-9]{7}[0-9]{10}$`),
	"CY": ibanRule("CYPRUS", `^CY[0-9]{10}[0-9A-Z]{16}$`),
	"CZ": bankRule("CZECH_REPUBLIC", `^[0-9]{4}$`, `^[0-9]{16}$`),
	"DK": bankRule("DENMARK", `^[0-9]{4}$`, `^[0-9]{4,10}$`),
	"EE": bankRule("ESTONIA", `^[0-9]{2}$`, `^[0-9]{4,14}$`),
	"FI": ibanRule("FINLAND", `^FI[0-9]{16}$`),
	"FR": ibanRule("FRANCE", `^FR[0-9]{12}[0-9A-Z]{11}[0-9]{2}$`),
	"DE": ibanRule("GERMANY", `^DE[0-9]{20}$`),
	"GR": ibanRule("GREECE", `^GR[0-9]{25}$`),
	"HU": bankRule("HUNGARY", `^[0-9]{8}$`, `^[0-9]{24}$`),
	"IE": ibanRule("IRELAND", `^IE[0-9]{2}[A-Z]{4}[0-9]{14}$`),
	"IT": ibanRule("ITALY", `^IT[0-9]{2}[A-Z][0-9]{10}[0-9A-Z]{12}$`),
	"LV": ibanRule("LATVIA", `^LV[0-9]{2}[A-Z]{4}[0-9A-Z]{13}$`),
	"LT": ibanRule("LITHUANIA", `^LT[0-9]{18}$`),
	"LU": ibanRule("LUXEMBOURG", `^LU[0-9]{18}$`),
	"MT": ibanRule("MALTA", `^MT[0-9]{2}[A-Z]{4}[0-9]{5}[0-9A-Z]{18}$`),
	"NL": ibanRule("NETHERLANDS", `^NL[0-9]{2}[A-Z]{4}[0-9]{10}$`),
	"NO": bankRule("NORWAY", `^[0-9]{4}$`, `^[0-9]{7}$`),
	"PL": ibanRule("POLAND", `^PL[0-9]{26}$`),
	"PT": bankRule("PORTUGAL", `^[0-9]{8}$`, `^[0-9]{13}$`),
	"RO": ibanRule("ROMANIA", `^RO[0-9]{2}[A-Z]{4}[0-9A-Z]{16}$`),
	"SK": ibanRule("SLOVAKIA", `^SK[0-9]{22}$`),
	"SI": ibanRule("SLOVENIA", `^SI56[0-9]{15}$`),
	"ES": ibanRule("SPAIN", `^ES[0-9]{22}$`),
	"SE": bankRule("SWEDEN", `^[0-9]{4,5}$`, `^[0-9]{1,15}$`),
	"GB": bankRule("UNITED_KINGDOM", `^[0-9]{6}$`, `^[0-9]{8}$`),
}

// checkPayoutAccount validates bankcountry/banknumber/accountnumber of a
// payout to new account details. The codes are payabl.'s: -1314 bank
// country, -1313 bank number, -1318 IBAN, and -1311 for a non-IBAN account
// number (payabl.'s list names -1311 "Account name wrong or missing"; no
// separate account-number code is documented).
func checkPayoutAccount(f payablForm) *payablErr {
	country := f["bankcountry"]
	rule, ok := payablPayoutRules[country]
	if !ok {
		return perr(-1314, "Bank country wrong or missing: bankcountry must be an ISO 3166-1 alpha-2 code of a Trustly payout country")
	}
	if rule.iban {
		if !rule.account.MatchString(f["accountnumber"]) {
			return perr(-1318, "IBAN wrong or missing: accountnumber for "+country+" must match "+rule.accntSrc)
		}
		return nil
	}
	if !rule.bank.MatchString(f["banknumber"]) {
		return perr(-1313, "Bank number wrong or missing: banknumber for "+country+" must match "+rule.bankSrc)
	}
	if !rule.account.MatchString(f["accountnumber"]) {
		return perr(-1311, "Account number wrong or missing: accountnumber for "+country+" must match "+rule.accntSrc)
	}
	return nil
}
