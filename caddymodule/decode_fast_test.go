package caddymodule

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers"
)

// decodeDiffBodies are bodies on which decodeStrict (one decode when the
// request is valid) must answer exactly as the full two-pass path.
var decodeDiffBodies = []string{
	validPayment, `{}`, ` {"amount":1} `, `null`, `[]`, `"x"`, `1`, ``, `   `, `{"amount":1}{}`, `{"amount":1} x`, `{"amount":1`,
	`{"Amount":1999}`, `{"AMOUNT":1}`, `{"\u0061mount":1}`, `{"amount":1,"amount":"x"}`, `{"amount":19.99}`, `{"amount":1e3}`,
	`{"customer":{"Address":{"city":"x"}}}`, `{"customer":{"address":{"line9":"x"}}}`, `{"customer":{"zip":1},"customer":{"id":"x"}}`,
	`{"customer":"x","c":{}}`, `{"customer":null}`, `{"metadata":{"a":"b","A":"c"}}`, `{"metadata":{"a":1}}`, `{"metadata":[]}`,
	`{"provider":"payabl","reference":"PO-2","amount":1000,"currency":"EUR","bank_account":{"holder_name":"J","iban":"DE89370400440532013000","country":"DE","Extra":1}}`,
	`{"provider":"payabl","reference":"PO-2","amount":1000,"currency":"EUR","bank_account":{"holder_name":"J","iban":"DE89370400440532013000","country":"DE"}}`,
	`{"amount":500,"reason":"damaged","reference":"RF-1"}`, `{"amount":500,"colour":"red"}`, "{\"reference\":\"\xff\"}",
	`{"reference":"\ud800"}`, `{"ſtatus":1}`, `{"amount":1,"description":null}`,
	strings.Replace(validPayment, `"city"`, `"City"`, 1), strings.Replace(validPayment, `"metadata"`, `"Metadata"`, 1),
}

// TestDecodeStrictSameAsFullPath: for the payment, refund and payout
// bodies, decodeStrict gives exactly the error (or the value) that the
// full two-pass decode gives.
func TestDecodeStrictSameAsFullPath(t *testing.T) {
	for _, body := range decodeDiffBodies {
		checkDecodeSame(t, []byte(body))
	}
}

func checkDecodeSame(t *testing.T, body []byte) {
	t.Helper()
	for _, typ := range []reflect.Type{reflect.TypeFor[providers.CreatePayment](), reflect.TypeFor[refundBody](), reflect.TypeFor[providers.CreatePayout]()} {
		fast, full := reflect.New(typ).Interface(), reflect.New(typ).Interface()
		ef, eo := decodeStrict(body, fast), decodeStrictFull(body, full)
		if !reflect.DeepEqual(ef, eo) {
			t.Fatalf("%v %q:\n decodeStrict     %+v\n decodeStrictFull %+v", typ, body, ef, eo)
		}
		if ef == nil && !reflect.DeepEqual(fast, full) {
			t.Fatalf("%v %q: decoded\n %+v\n %+v", typ, body, fast, full)
		}
	}
}

func FuzzDecodeStrictSameAsFullPath(f *testing.F) {
	for _, b := range decodeDiffBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkDecodeSame(t, body) })
}

// A valid create request is decoded once, not generically and then
// strictly: it allocates less than half of what the two passes did (183
// allocations with Go 1.26).
func TestDecodeStrictValidRequestDecodesOnce(t *testing.T) {
	body := []byte(validPayment)
	allocs := testing.AllocsPerRun(50, func() {
		var req providers.CreatePayment
		if e := decodeStrict(body, &req); e != nil {
			t.Fatal(e)
		}
	})
	if allocs > 90 {
		t.Fatalf("%v allocations to decode the valid create request", allocs)
	}
}
