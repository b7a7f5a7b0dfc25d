package razorpay

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// refEvent is the webhook envelope as encoding/json read it before the
// webhook was read with gjson: entities as json.RawMessage, each decoded
// with json.Unmarshal when used.
type refEvent struct {
	Entity    string   `json:"entity"`
	AccountID string   `json:"account_id"`
	Event     string   `json:"event"`
	Contains  []string `json:"contains"`
	Payload   struct {
		Payment *struct {
			Entity json.RawMessage `json:"entity"`
		} `json:"payment"`
		Order *struct {
			Entity json.RawMessage `json:"entity"`
		} `json:"order"`
		Refund *struct {
			Entity json.RawMessage `json:"entity"`
		} `json:"refund"`
	} `json:"payload"`
	CreatedAt int64 `json:"created_at"`
}

// diffEntity holds decodeEntityRef to json.Unmarshal of the raw entity.
func diffEntity[T any](t *testing.T, body []byte, name string, raw json.RawMessage, got *entityRef, decode func(*T, gjson.Result) bool) {
	t.Helper()
	ref, dec := new(T), new(T)
	refOK := json.Unmarshal(raw, ref) == nil
	if gotOK := decodeEntityRef(got, dec, decode); gotOK != refOK {
		t.Fatalf("%s entity: gjson accepts %v, encoding/json %v, for %q", name, gotOK, refOK, body)
	}
	if o, ok := any(ref).(*order); ok {
		o.Notes = nil // not read
	}
	if refOK && !reflect.DeepEqual(ref, dec) {
		t.Fatalf("%s entity of %q:\nencoding/json %+v\ngjson         %+v", name, body, ref, dec)
	}
}

// checkEventDiff holds decodeEvent and the entity decoders to encoding/json
// on one body: both refuse it, or both read the same values.
func checkEventDiff(t *testing.T, body []byte) {
	var ref refEvent
	var got event
	refOK := json.Unmarshal(body, &ref) == nil
	if gotOK := decodeEvent(body, &got); gotOK != refOK {
		t.Fatalf("gjson accepts %v, encoding/json %v, for %q", gotOK, refOK, body)
	}
	if !refOK {
		return
	}
	if got.Entity != ref.Entity || got.AccountID != ref.AccountID || got.Event != ref.Event || got.CreatedAt != ref.CreatedAt ||
		!reflect.DeepEqual(got.Contains, ref.Contains) {
		t.Fatalf("%q:\nencoding/json %+v\ngjson         %+v", body, ref, got)
	}
	if (ref.Payload.Payment == nil) != (got.Payload.Payment == nil) || (ref.Payload.Order == nil) != (got.Payload.Order == nil) ||
		(ref.Payload.Refund == nil) != (got.Payload.Refund == nil) {
		t.Fatalf("%q: payload members differ: encoding/json %+v, gjson %+v", body, ref.Payload, got.Payload)
	}
	if p := ref.Payload.Payment; p != nil {
		diffEntity(t, body, "payment", p.Entity, got.Payload.Payment, decodePayment)
	}
	if o := ref.Payload.Order; o != nil {
		diffEntity(t, body, "order", o.Entity, got.Payload.Order, decodeOrder)
	}
	if r := ref.Payload.Refund; r != nil {
		diffEntity(t, body, "refund", r.Entity, got.Payload.Refund, decodeRefund)
	}
}

var eventDiffBodies = []string{
	`{"entity":"event","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_1","amount":500,"order_id":"order_1"}}},"created_at":1}`,
	`{"entity":"event","payload":{"payment":{}}}`, `{"payload":{"payment":null}}`, `{"payload":{"payment":{"entity":null}}}`,
	`{"payload":{"payment":{"entity":{"a":1}},"payment":{"x":1}}}`, `{"payload":{"payment":{"entity":1}}}`,
	`{"payload":{"payment":[]}}`, `{"payload":null}`, `{"payload":[]}`, `{"payload":{"Order":{"ENTITY":{"amount":19.99}}}}`,
	`{"payload":{"order":{"entity":{"amount":1e3,"notes":[]}}},"payload":{"refund":{"entity":{"amount":"5"}}}}`,
	`{"contains":null}`, `{"contains":[null,"a"]}`, `{"contains":[1]}`, `{"contains":"a"}`, `{"created_at":1.5}`,
	`{"created_at":null,"created_at":9223372036854775808}`, `{"event":"\u0070ayment.failed","Event":"x"}`, `{"entity":"\xff"}`,
	`null`, `[]`, `{}`, `{"a":1} x`, `{"entity":"event",}`, ``, `{"payload":{"refund":{"entity":{"amount":-0,"payment_id":null}}}}`,
}

func TestWebhookDecodeDiff(t *testing.T) {
	bodies := append([]string{}, eventDiffBodies...)
	files, _ := filepath.Glob(filepath.Join("testdata", "webhooks", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b), strings.Replace(string(b), `"amount": `, `"amount": 1.5, "x": `, 1))
	}
	for _, b := range bodies {
		checkEventDiff(t, []byte(b))
	}
}

// FuzzWebhookDecodeDiff: decodeEvent and the entity decoders against
// encoding/json on any body.
func FuzzWebhookDecodeDiff(f *testing.F) {
	for _, b := range eventDiffBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(checkEventDiff)
}
