package payabl

import (
	"strconv"

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

// parseCode parses a signed decimal payabl code.
func parseCode(s string) (int, bool) {
	if s == "" || len(s) > 11 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n, true
}
