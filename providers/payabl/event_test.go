package payabl

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// eventOf decodes a ProviderEvent (raw JSON) for lookups in the tests; an
// empty one gives nil.
func eventOf(t testing.TB, raw json.RawMessage) map[string]any {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("ProviderEvent %q is not a JSON object: %v", raw, err)
	}
	return m
}

// mapEvent is the map payabl built as its ProviderEvent before it was raw
// JSON: providerEvent must encode to exactly what encoding/json made of it.
func mapEvent(form url.Values) map[string]any {
	ev := make(map[string]any, len(signedFields)+1)
	unsigned := make(map[string]any, len(form))
	for k, vs := range form {
		target := unsigned
		for _, f := range signedFields {
			if k == f {
				target = ev
			}
		}
		lk := strings.ToLower(k)
		if secretFields[lk] {
			continue
		}
		clean := func(v string) string {
			v = fromLatin1(v)
			if maskedFields[lk] {
				v = providers.MaskAccount(v)
			}
			return v
		}
		if len(vs) == 1 {
			target[k] = clean(vs[0])
			continue
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = clean(v)
		}
		target[k] = out
	}
	if len(unsigned) > 0 {
		ev["unsigned"] = unsigned
	}
	return ev
}

// checkEventBytes holds providerEvent to the map encoding on one form.
func checkEventBytes(t *testing.T, form url.Values) {
	t.Helper()
	got := providerEvent(form)
	m := mapEvent(form)
	if len(m) == 0 {
		if got != nil {
			t.Fatalf("providerEvent(%v) = %s, want nil (the map was empty)", form, got)
		}
		return
	}
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("providerEvent(%v)\n got %s\nwant %s", form, got, want)
	}
}

func TestProviderEventSameJSONAsTheMap(t *testing.T) {
	forms := []url.Values{
		{"transactionid": {"104579097"}, "type": {"capture"}, "errorcode": {"0"}, "timestamp": {"1660132694"},
			"security": {"ab"}, "payment_state": {"not_credited_yet"}, "account_number": {"SE4550000000058398257466"},
			"account_holder": {"Erik Lindstr\xf6m"}, "amount": {"5.00"}, "currency": {"EUR"}, "orderid": {"<a&b>\u2028\"\\\x01"}},
		{"security": {"x"}, "SIGNATURE": {"y"}, "Password": {"z"}},
		{"security": {"x"}, "amount": {"1"}},
		{"transactionid": {"1"}, "security": {"x"}},
		{"multi": {"a", "b", ""}, "IBAN": {"DE89 3704 0044 0532 0130 00", "x"}, "unsigned": {"u"}, "Type": {"not signed"}, "": {""}},
		{"ccn": {"4200000000000000"}, "\xff\xfekey": {"\xff"}, "type": {"capture", "refund"}},
		{},
	}
	many := url.Values{"transactionid": {"7"}}
	for i := range 40 {
		many[strings.Repeat("k", i+1)] = []string{strings.Repeat("v", i)}
	}
	forms = append(forms, many)
	for _, f := range forms {
		checkEventBytes(t, f)
	}
	// The seed notifications as payabl sends them.
	for _, name := range []string{"seed_accepted_capture_additional.txt", "seed_successful_capture_additional.txt"} {
		form, err := url.ParseQuery(readNote(t, name))
		if err != nil {
			t.Fatal(err)
		}
		checkEventBytes(t, form)
	}
}
