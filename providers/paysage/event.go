package paysage

import (
	"encoding/json"

	"github.com/caddy-payments/caddy-payments/providers/internal/eventjson"
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

// eventRules: secrets removed and account numbers masked at any depth (a
// masked member that is not a string, such as a bank_account object,
// becomes "****"); structure deeper than 16 levels is dropped rather than
// walked without end.
var eventRules = &eventjson.Rules{Drop: secretKeys, Mask: accountKeys, MaskOther: true, MaxDepth: 16}

// providerEvent is the notification body for the forwarded event, as raw
// JSON, with secrets removed and account numbers masked at any depth.
// Number literals are copied byte for byte, so amounts in minor units stay
// exact. A body that is not a JSON object, or leaves nothing, gives nil.
func providerEvent(body []byte) json.RawMessage {
	return eventjson.Scrub(body, eventRules)
}

// providerEventOfValid is providerEvent of a body decodeEnvelope has just
// read (so valid JSON: not validated again).
func providerEventOfValid(body []byte) json.RawMessage {
	return eventjson.ScrubValid(body, eventRules)
}
