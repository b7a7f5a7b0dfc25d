package paysage

import (
	"encoding/json"

	"github.com/tidwall/gjson"

	"github.com/caddy-payments/caddy-payments/providers/internal/replyjson"
)

// PaySage's replies are read with gjson (replyjson), field by field,
// without reflection; the json tags of wire.go stay the reference of what
// is read, and the differential fuzz test (reply_diff_test.go) holds this
// decoding to exactly what encoding/json makes of the same body into those
// structs. The amount is kept as its raw literal and checked as an
// integer literal by transaction.check. Error replies (message, errors,
// response) are kept raw and read by errors.go as before.

var subStatusFields = []replyjson.Field[subStatus]{
	{Name: "status", Set: func(s *subStatus, v gjson.Result) bool { return replyjson.String(&s.Status, v) }},
	{Name: "message", Set: func(s *subStatus, v gjson.Result) bool { return replyjson.String(&s.Message, v) }},
}

var formFieldsWire = []replyjson.Field[form]{
	{Name: "action", Set: func(f *form, v gjson.Result) bool { return replyjson.String(&f.Action, v) }},
	{Name: "method", Set: func(f *form, v gjson.Result) bool { return replyjson.String(&f.Method, v) }},
	{Name: "fields", Set: func(f *form, v gjson.Result) bool { f.Fields = raw(v); return true }},
}

func decodeSubStatus(s *subStatus, v gjson.Result) bool {
	return replyjson.Struct(s, v, subStatusFields)
}

var transactionFields = []replyjson.Field[transaction]{
	{Name: "uid", Set: func(t *transaction, v gjson.Result) bool { return replyjson.String(&t.UID, v) }},
	{Name: "parent_uid", Set: func(t *transaction, v gjson.Result) bool { return replyjson.String(&t.ParentUID, v) }},
	{Name: "type", Set: func(t *transaction, v gjson.Result) bool { return replyjson.String(&t.Type, v) }},
	{Name: "status", Set: func(t *transaction, v gjson.Result) bool { return replyjson.String(&t.Status, v) }},
	{Name: "amount", Set: func(t *transaction, v gjson.Result) bool { t.Amount = raw(v); return true }},
	{Name: "currency", Set: func(t *transaction, v gjson.Result) bool { return replyjson.String(&t.Currency, v) }},
	{Name: "tracking_id", Set: func(t *transaction, v gjson.Result) bool { return replyjson.String(&t.TrackingID, v) }},
	{Name: "message", Set: func(t *transaction, v gjson.Result) bool { return replyjson.String(&t.Message, v) }},
	{Name: "created_at", Set: func(t *transaction, v gjson.Result) bool { return replyjson.String(&t.CreatedAt, v) }},
	{Name: "updated_at", Set: func(t *transaction, v gjson.Result) bool { return replyjson.String(&t.UpdatedAt, v) }},
	{Name: "test", Set: func(t *transaction, v gjson.Result) bool { return replyjson.Bool(&t.Test, v) }},
	{Name: "payment", Set: func(t *transaction, v gjson.Result) bool { return replyjson.Pointer(&t.Payment, v, decodeSubStatus) }},
	{Name: "refund", Set: func(t *transaction, v gjson.Result) bool { return replyjson.Pointer(&t.Refund, v, decodeSubStatus) }},
	{Name: "form", Set: func(t *transaction, v gjson.Result) bool {
		return replyjson.Pointer(&t.Form, v, func(f *form, v gjson.Result) bool { return replyjson.Struct(f, v, formFieldsWire) })
	}},
}

// envelopeFields keep each member's value: the raw members of envelope
// are cut from the body by decodeEnvelope.
var envelopeFields = []replyjson.Field[envelope]{
	{Name: "transaction", Set: func(e *envelope, v gjson.Result) bool { e.transaction = v; return true }},
	{Name: "transactions", Set: func(e *envelope, v gjson.Result) bool { e.transactions = v; return true }},
	{Name: "message", Set: func(e *envelope, v gjson.Result) bool { e.message = v; return true }},
	{Name: "errors", Set: func(e *envelope, v gjson.Result) bool { e.errors = v; return true }},
	{Name: "response", Set: func(e *envelope, v gjson.Result) bool { e.response = v; return true }},
}

// raw is a member's JSON literal, as a json.RawMessage member holds it.
func raw(v gjson.Result) json.RawMessage {
	if !v.Exists() {
		return nil
	}
	return json.RawMessage(v.Raw)
}

// rawIn is raw without a copy: v's literal as the bytes of body it was
// read from (body is what replyjson.Parse was given).
func rawIn(body []byte, v gjson.Result) json.RawMessage {
	if !v.Exists() {
		return nil
	}
	if end := v.Index + len(v.Raw); v.Index >= 0 && end <= len(body) && string(body[v.Index:end]) == v.Raw {
		return body[v.Index:end:end]
	}
	return raw(v)
}

// decodeEnvelope reads a reply body as encoding/json reads it into an
// envelope; false when it is not JSON or not an object (or null).
func decodeEnvelope(body []byte, env *envelope) bool {
	root, ok := replyjson.Parse(body)
	if !ok || !replyjson.Struct(env, root, envelopeFields) {
		return false
	}
	env.Transaction = rawIn(body, env.transaction)
	env.Transactions = rawIn(body, env.transactions)
	env.Message = rawIn(body, env.message)
	env.Errors = rawIn(body, env.errors)
	env.Response = rawIn(body, env.response)
	return true
}

// decodeTransaction reads one transaction object (or null) as
// encoding/json reads it into a transaction.
func decodeTransaction(t *transaction, v gjson.Result) bool {
	return replyjson.Struct(t, v, transactionFields)
}
