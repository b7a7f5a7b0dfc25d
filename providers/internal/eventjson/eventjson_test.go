package eventjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

var (
	// paysageLike: secrets dropped, accounts masked whatever their type,
	// depth capped (PaySage's rules).
	paysageLike = &Rules{
		Drop:      map[string]bool{"secret": true, "secret_key": true, "token": true, "verification_value": true},
		Mask:      map[string]bool{"iban": true, "number": true, "bank_account": true},
		MaskOther: true,
		MaxDepth:  16,
	}
	// razorpayLike: string accounts masked, nothing dropped, no cap.
	razorpayLike = &Rules{Mask: map[string]bool{"account_number": true, "iban": true}}
)

// reference is what the providers did before Scrub: decode the body into
// map[string]any (UseNumber), then remove and mask member by member. Scrub
// must give the same value.
func reference(body []byte, r *Rules) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || dec.InputOffset() != int64(len(bytes.TrimRight(body, " \t\r\n"))) {
		return nil
	}
	if m == nil {
		return nil
	}
	out := refScrub(m, 0, r).(map[string]any)
	if len(out) == 0 {
		return nil
	}
	return out
}

func refScrub(v any, depth int, r *Rules) any {
	if r.MaxDepth > 0 && depth > r.MaxDepth {
		return nil
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			lk := strings.ToLower(k)
			switch {
			case r.Drop[lk]:
				continue
			case r.Mask[lk]:
				if s, ok := val.(string); ok {
					out[k] = providers.MaskAccount(s)
					continue
				}
				if val != nil && r.MaskOther {
					out[k] = "****"
					continue
				}
			}
			out[k] = refScrub(val, depth+1, r)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = refScrub(e, depth+1, r)
		}
		return out
	}
	return v
}

// check holds Scrub to the reference on one body.
func check(t *testing.T, body []byte, r *Rules) {
	t.Helper()
	got := Scrub(body, r)
	want := reference(body, r)
	if got == nil {
		if want != nil {
			t.Fatalf("Scrub(%q) = nil, want %v", body, want)
		}
		return
	}
	if !json.Valid(got) || got[0] != '{' {
		t.Fatalf("Scrub(%q) = %q: not a JSON object", body, got)
	}
	var compact bytes.Buffer
	if json.Compact(&compact, got) != nil || !bytes.Equal(compact.Bytes(), got) {
		t.Fatalf("Scrub(%q) = %q: not compact", body, got)
	}
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	// json.Number compares the literals: amounts are byte for byte.
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("Scrub(%q)\n got %v\nwant %v", body, m, want)
	}
}

var seeds = []string{
	`{"transaction":{"uid":"u1","status":"successful","amount":500,"currency":"EUR","secret_key":"s3cr3t","bank_account":{"iban":"SE4550000000058398257466","holder":"Jane"},"credit_card":{"number":"4200000000000000","verification_value":"123","token":"tok"}}}`,
	` { "a" : [ 1 , 2.50 , -0 , 1e3 , 12345678901234567890123 , true , false , null , { } , [ ] ] , "b" : "x" } `,
	`{"\u0073ecret":"s","SECRET":"s","Iban":"DE89370400440532013000","\u0049BAN":"DE89370400440532013000","iban":null,"number":12,"number":[1,2],"x":"<&>\u2028"}`,
	`{"payload":{"payment":{"entity":{"amount":50000,"bank_account":{"account_number":"1234567890","ifsc":"HDFC0000001"}}}},"account_number":{"iban":"x"}}`,
	"{\"a\":\"\xff\xfe ok \xc3\xa9\",\"\xff\":1}",
	`{"a":"\ud800","b":"\"\\\/\b\f\n\r\t"}`,
	`{"secret":"only"}`, `{}`, `[]`, `null`, `"x"`, `1`, `{"a":1} x`, `{"a":1}{"b":2}`, `{"a":}`, ``, ` `,
	`{"TO\u212aEN":"kelvin"}`,
	"{\n\t\"k\\\"ey\" :\r\n [ {\"secret\" : [1, {\"}\":\"]\"}] , \"iban\":{\"a\":\"b\"}} ,\n\"\" ] ,\"e\":\"\"}",
	`{"iban":"","number":"1 2 3 4 5","bank_account":true,"Number":false,"n":[{"number":{"x":1}}]}`,
	`{"a":` + strings.Repeat(`{"b":`, 20) + `1` + strings.Repeat(`}`, 20) + `}`,
	`{"a":` + strings.Repeat(`[`, 20) + `"x"` + strings.Repeat(`]`, 20) + `,"number":` + strings.Repeat(`[`, 20) + strings.Repeat(`]`, 20) + `}`,
}

func TestScrubMatchesMapScrub(t *testing.T) {
	for _, s := range seeds {
		check(t, []byte(s), paysageLike)
		check(t, []byte(s), razorpayLike)
	}
}

func TestScrubKeepsBytes(t *testing.T) {
	body := `{ "amount" : 12345678901234567890123.000 , "s":"\u00e9\/", "n":-0.0e+0 }`
	got := string(Scrub([]byte(body), razorpayLike))
	if want := `{"amount":12345678901234567890123.000,"s":"\u00e9\/","n":-0.0e+0}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	got = string(Scrub([]byte(`{"a":{"Secret":"x","b":1},"TOKEN":"y","iban":"DE89 3704 0044 0532 0130 00"}`), paysageLike))
	if want := `{"a":{"b":1},"iban":"****3000"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func FuzzScrub(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check(t, body, paysageLike)
		check(t, body, razorpayLike)
	})
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "<a href=\"x\">&amp;</a>", "\x00\x01\b\f\n\r\t\x1f\x7f", "é\u2028\u2029😀", "\xff\xc3", "\\"} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("<\u2028\xff\x01")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func BenchmarkScrub(b *testing.B) {
	body := []byte(seeds[0])
	b.ReportAllocs()
	for b.Loop() {
		Scrub(body, paysageLike)
	}
}
