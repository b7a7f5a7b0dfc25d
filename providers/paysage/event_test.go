package paysage

import (
	"bytes"
	"encoding/json"
	"testing"
)

// eventOf decodes a ProviderEvent (raw JSON) for lookups in the tests,
// numbers as json.Number (their literal); an empty one gives nil.
func eventOf(t testing.TB, raw json.RawMessage) map[string]any {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("ProviderEvent %q is not a JSON object: %v", raw, err)
	}
	return m
}

// A secret key is dropped however its name is spelt in the JSON: escaped,
// in capitals, or with the Kelvin sign that lower-cases to k.
func TestProviderEventDropsSpelledSecrets(t *testing.T) {
	body := `{"transaction":{"uid":"u1","amount":1.50,"\u0073ecret_key":"s3cr3t1","Secret_Key":"s3cr3t2","TO\u212aEN":"s3cr3t3","card":{"\u004eUMBER":"4200000000000000"}}}`
	raw := providerEvent([]byte(body))
	for _, leaked := range []string{"s3cr3t1", "s3cr3t2", "s3cr3t3", "4200000000000000"} {
		if bytes.Contains(raw, []byte(leaked)) {
			t.Errorf("%s in %s", leaked, raw)
		}
	}
	if want := `{"transaction":{"uid":"u1","amount":1.50,"card":{"\u004eUMBER":"****0000"}}}`; string(raw) != want {
		t.Errorf("got %s, want %s", raw, want)
	}
}
