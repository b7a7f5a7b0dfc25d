package payabl

import (
	"strconv"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// payabl uses one code space for the synchronous `status`, the
// notification `errorcode` and the diagnose `error_code` (reference §4.1):
// 0 approved, 2000 pending, anything else a failure.
const (
	codeOK      = 0
	codePending = 2000
)

// faultCodes are failures that are not a decision about the customer's
// payment but a problem with the merchant account, the configuration or the
// request itself (credentials, environment, signature, a field payabl
// rejects): the merchant cannot fix them by asking the customer to try
// again, so they are provider errors, not declines. The bool says whether
// trying again later can help.
var faultCodes = map[int]bool{
	-1:    false, // Unknown config setting
	-104:  false, // Illegal command (action not allowed for account)
	-117:  false, // treated as hard failures by integrators (reference §4.1)
	-119:  false, // No permission
	-121:  false,
	-125:  false,
	-997:  false,
	-998:  false, // Unknown error
	-999:  false, // Unknown error: credentials, environment, signature
	-1316: false, // Merchant payment method wrong or missing
	-5000: true,  // Internal error
	-6000: false, // Found wrong or missing fields / currency not enabled / signature
	-6005: false, // Preauthorization action is disabled
}

// isFault reports whether code is a configuration/request fault and whether
// a retry can help. The -61xx/-62xx family ("Wrong price, currency,
// lastname …", and -6209 seen with "MID is near to negative balance") are
// merchant-side problems too.
func isFault(code int) (fault, retryable bool) {
	if r, ok := faultCodes[code]; ok {
		return true, r
	}
	if code <= -6000 && code > -7000 {
		return true, false
	}
	return false, false
}

// codeError turns a failure code and message from a synchronous reply into
// the canonical error: a provider_error for faults, provider_declined for
// everything else (the customer's bank, Trustly or payabl's risk checks
// said no).
func codeError(code int, message string) *providers.Error {
	raw := strconv.Itoa(code)
	if fault, retry := isFault(code); fault {
		return providers.ProviderFault(raw, message, providers.SentYes, retry)
	}
	return providers.Declined(raw, message)
}

// parseCode parses a payabl code in its one canonical form (grammar
// `0 | -?[1-9][0-9]{0,9}`): "0", or a decimal integer without leading
// zeros, without '+', with '-' only for a negative value (payabl's failures
// are negative: -5003, -6209; 2000 is pending; legacy replies carry other
// positives, e.g. 101). "01", "+0", "-0", "00", " 0" and anything longer
// than ten digits are refused: the notification's errorcode is covered by
// a signature over concatenated fields, and a field with several spellings
// lets characters move across a field boundary (issue 10, item 2). The
// synchronous status and the diagnose error_code use the same grammar.
func parseCode(s string) (int, bool) {
	if !canonicalCode(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n, true
}

// canonicalCode reports whether s is a code in its canonical form.
func canonicalCode(s string) bool {
	if s == "0" {
		return true
	}
	digits := strings.TrimPrefix(s, "-")
	return len(digits) >= 1 && len(digits) <= 10 && digits[0] != '0' && allDigits(digits)
}
