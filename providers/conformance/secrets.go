package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
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
		for _, secret := range s.h.Secrets {
			if strings.Contains(text.String(), secret) {
				t.Errorf("returned value %d (%T) contains an account secret", i, v)
			}
		}
	}
}
