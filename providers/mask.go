package providers

import (
	"strings"
	"unicode"
)

// MaskAccount reduces a bank account number or IBAN to its last four
// characters ("SE4550000000058398257466" → "****7466") so forwarded events
// and logs can identify an account to a human without disclosing it.
// Whitespace is dropped first because grouped IBANs ("SE45 5000 …") carry
// spaces only for readability. Four or fewer characters become "****":
// showing them would reveal the whole value.
func MaskAccount(s string) string {
	r := []rune(strings.Map(func(c rune) rune {
		if unicode.IsSpace(c) {
			return -1
		}
		return c
	}, s))
	if len(r) <= 4 {
		return "****"
	}
	return "****" + string(r[len(r)-4:])
}
