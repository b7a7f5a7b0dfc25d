package razorpay

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzReplyDecodeDiff holds decodeEntity (gjson) to encoding/json, the
// decoder the replies were read with before and whose struct tags in
// wire.go and errors.go still say what is read: for every body and every
// entity, both refuse it or both accept it with the same values (the
// unread json.RawMessage members aside).
func FuzzReplyDecodeDiff(f *testing.F) {
	bodies := []string{
		orderBody, payments(attempt("pay_B2", "failed", 101, 0), attempt("pay_A1", "captured", 100, 7)),
		`{"id":"rfnd_FP8QHiV938haTz","entity":"refund","amount":500,"currency":"EUR","status":"processed","created_at":1597078866}`,
		`{"error":{"code":"BAD_REQUEST_ERROR","description":"d","field":"amount","metadata":{"a":[1]}}}`,
		`null`, ` {} `, `[]`, `"x"`, `{"amount":19.99}`, `{"amount":1e3}`, `{"amount":-0}`, `{"amount":"100"}`,
		`{"amount":9223372036854775808}`, `{"amount":-9223372036854775808}`, `{"amount":null}`, `{"amount":5,"amount":null}`,
		`{"AMOUNT":7,"amount":8,"Amount":9}`, `{"\u0061mount":3}`, `{"ſtatus":"x","Ke":1}`, `{"status":"\ud800\u00e9\ude00"}`,
		"{\"status\":\"\xff\xfe\"}", `{"captured":"yes"}`, `{"captured":true,"captured":null}`, `{"notes":{"a":[{"b":null}]}}`,
		`{"items":null}`, `{"items":[]}`, `{"items":[null,{"id":"a"}]}`, `{"items":{}}`, `{"items":[1]}`,
		`{"items":[{"id":"a","status":"captured"},{"id":"b"},{"id":"c"}],"items":[{"status":"x"}],"items":[{},{},{},{}]}`,
		`{"items":[{"id":"a"}],"items":[]}`, `{"error":null}`, `{"error":{"code":"A"},"error":{"description":"B"}}`,
		`{"error":{"code":"A"},"error":null}`, `{"error":"x"}`, `{"error":{"code":1}}`, `{"count":1.0}`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001), `{"a":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`,
		`{"id":"a"} x`, `{"id":"a",}`, `{"id":01}`, "\t{\"id\" :\n\"a\"}\r\n", `{"id":"a\/b\u0000"}`, `{"id":"\'"}`,
	}
	for _, b := range bodies {
		for kind := range uint8(5) {
			f.Add(kind, []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		var ref, got any
		switch kind % 5 {
		case 0:
			ref, got = new(order), new(order)
		case 1:
			ref, got = new(refund), new(refund)
		case 2:
			ref, got = new(collection[order]), new(collection[order])
		case 3:
			ref, got = new(collection[payment]), new(collection[payment])
		default:
			ref, got = new(envelope), new(envelope)
		}
		refOK := json.Unmarshal(body, ref) == nil
		if gotOK := decodeEntity(body, got); gotOK != refOK {
			t.Fatalf("%T: gjson accepts %v, encoding/json %v, for %q", got, gotOK, refOK, body)
		}
		if !refOK {
			return
		}
		// The raw members that are not read.
		switch r := ref.(type) {
		case *order:
			r.Notes = nil
		case *collection[order]:
			for i := range r.Items {
				r.Items[i].Notes = nil
			}
		case *envelope:
			if r.Error != nil {
				r.Error.Metadata = nil
			}
		}
		if !reflect.DeepEqual(ref, got) {
			t.Fatalf("%q:\nencoding/json %+v\ngjson         %+v", body, ref, got)
		}
	})
}
