package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// checkNoSecrets scans every error and object the provider returned during
// the run (error texts, canonical JSON, ProviderEvent) for the account's
// credentials.
func (s *suite) checkNoSecrets(t *testing.T) {
	if len(s.returned) == 0 {
		t.Fatalf("nothing was returned during the run to scan")
	}
	for i, v := range s.returned {
		if v == nil {
			continue
		}
		var text strings.Builder
		if err, ok := v.(error); ok {
			text.WriteString(err.Error())
		}
		fmt.Fprintf(&text, "%+v", v)
		if b, err := json.Marshal(v); err == nil {
			text.Write(b)
		}
		// A ProviderEvent is raw JSON: a secret in it could be escaped
		// (\u0073…); scan its decoded strings too.
		if n, ok := v.(*providers.Notification); ok && n != nil {
			text.WriteString(decodedStrings(n.ProviderEvent))
		}
		for _, secret := range s.h.Secrets {
			if strings.Contains(text.String(), secret) {
				t.Errorf("returned value %d (%T) contains an account secret", i, v)
			}
		}
	}
}

// decodedStrings is every key and string value of a JSON document,
// decoded, one a line; "" when raw is not JSON.
func decodedStrings(raw json.RawMessage) string {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return ""
	}
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				b.WriteString(k + "\n")
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			b.WriteString(x + "\n")
		}
	}
	walk(v)
	return b.String()
}
