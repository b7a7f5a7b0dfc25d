package paysage

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers/internal/replyjson"
)

// FuzzReplyDecodeDiff holds the gjson decoding of replies (decodeEnvelope,
// decodeTransaction) to encoding/json, the decoder the replies were read
// with before and whose struct tags in wire.go still say what is read: for
// every body, both refuse it or both accept it with the same values and
// the same raw members.
func FuzzReplyDecodeDiff(f *testing.F) {
	for _, b := range fzBodies(f) {
		f.Add([]byte(b))
		for _, tx := range fzTransactions(b) {
			f.Add([]byte(tx))
		}
	}
	for _, b := range []string{
		`{"uid":"a","UID":"b","ﬀ":1,"ſtatus":"x","amount":19.99,"Amount":"100"}`, `{"amount":-0}`, `{"amount":null}`,
		`{"payment":{"status":"a"},"payment":{"message":"b"}}`, `{"payment":{"status":"a"},"payment":null}`, `{"payment":[]}`,
		`{"form":{"action":"x","fields":[["a",1]]},"form":{"method":"POST"}}`, `{"form":{"fields":null}}`, `{"test":"true"}`,
		`{"test":true,"test":null}`, `{"created_at":5}`, `{"transaction":{"uid":"a"},"Transaction":null}`, ` {"message" : "m" } `,
		`{"transactions":[{"uid":"\u0061"}, null, 1]}`, `{"response":{"message":"x"},"errors":{"a":["b"]}}`,
		"{\"uid\":\"\xff\\ud800\"}", strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var refEnv, gotEnv envelope
		refOK := json.Unmarshal(body, &refEnv) == nil
		if gotOK := decodeEnvelope(body, &gotEnv); gotOK != refOK {
			t.Fatalf("envelope: gjson accepts %v, encoding/json %v, for %q", gotOK, refOK, body)
		}
		if refOK {
			for _, m := range [][2]json.RawMessage{
				{refEnv.Transaction, gotEnv.Transaction}, {refEnv.Transactions, gotEnv.Transactions},
				{refEnv.Message, gotEnv.Message}, {refEnv.Errors, gotEnv.Errors}, {refEnv.Response, gotEnv.Response},
			} {
				if !bytes.Equal(m[0], m[1]) || (m[0] == nil) != (m[1] == nil) {
					t.Fatalf("envelope member %q read as %q from %q", m[0], m[1], body)
				}
			}
		}

		var ref, got transaction
		refOK = json.Unmarshal(body, &ref) == nil
		root, gotOK := replyjson.Parse(body)
		if gotOK = gotOK && decodeTransaction(&got, root); gotOK != refOK {
			t.Fatalf("transaction: gjson accepts %v, encoding/json %v, for %q", gotOK, refOK, body)
		}
		if refOK && !reflect.DeepEqual(ref, got) {
			t.Fatalf("%q:\nencoding/json %+v\ngjson         %+v", body, ref, got)
		}
	})
}
