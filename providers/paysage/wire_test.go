package paysage

import (
	"encoding/json"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// A transaction's amount must be a bare JSON integer of minor units:
// decimals, exponents, quoted numbers and negatives are garbage, never
// rounded, truncated or unquoted.
func TestTransactionAmountMustBeBareInteger(t *testing.T) {
	tx := func(amount string) json.RawMessage {
		return json.RawMessage(`{"uid":"e8a6bbc6-12ef-4a2b-8f0a-1c5b6f0e3d10","status":"successful","amount":` + amount + `,"currency":"EUR"}`)
	}
	got, err := parseTransaction(tx("1999"))
	if err != nil || got.amountMinor != 1999 {
		t.Fatalf("1999: %+v, %v", got, err)
	}
	for _, bad := range []string{`19.99`, `1999.0`, `1e3`, `"1999"`, `-1`, `null`, `99999999999999999999`} {
		if _, err := parseTransaction(tx(bad)); providers.AsError(err).Type != providers.TypeProviderError {
			t.Errorf("amount %s: err = %v, want a garbage-reply error", bad, err)
		}
	}
}
