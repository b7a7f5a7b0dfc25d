package paysage

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// secretKeys never leave the package in ProviderEvent: anything that could
// be a credential or a signature. Compared lower-case.
var secretKeys = map[string]bool{
	"secret": true, "secret_key": true, "password": true, "signature": true,
	"content_signature": true, "token": true, "authorization": true,
	"verification_value": true, "cvv": true, "cvc": true,
}

// accountKeys are bank account or card numbers, masked to the last four
// characters. Compared lower-case.
var accountKeys = map[string]bool{
	"iban": true, "account_number": true, "accountnumber": true, "bank_account": true,
	"number": true, "card_number": true, "bank_number": true,
}

// providerEvent is the notification body for the forwarded event, with
// secrets removed and account numbers masked at any depth. Numbers stay
// exact (json.Number), so amounts in minor units are not turned into
// floats. A body that does not decode gives nil.
func providerEvent(body []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return nil
	}
	return scrub(m, 0).(map[string]any)
}

// scrub cleans one decoded JSON value. Depth is capped: deeper structure
// is dropped rather than walked without end.
func scrub(v any, depth int) any {
	if depth > 16 {
		return nil
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			lk := strings.ToLower(k)
			switch {
			case secretKeys[lk]:
				continue
			case accountKeys[lk]:
				if s, ok := val.(string); ok {
					out[k] = providers.MaskAccount(s)
				} else if val != nil {
					out[k] = "****"
				} else {
					out[k] = nil
				}
			default:
				out[k] = scrub(val, depth+1)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = scrub(e, depth+1)
		}
		return out
	}
	return v
}
