package razorpay

import (
	"github.com/tidwall/gjson"

	"github.com/caddy-payments/caddy-payments/providers/internal/replyjson"
)

// Razorpay's replies are read with gjson (replyjson), field by field,
// without reflection; the json tags of wire.go and errors.go stay the
// reference of what is read, and the differential fuzz tests
// (reply_diff_test.go) hold this decoding to exactly what encoding/json
// makes of the same body into those structs: the same bodies refused,
// the same values kept. Integers are integer literals (an amount of 19.99,
// 1e3 or "100" is an unreadable reply, never a truncated amount).

var orderFields = []replyjson.Field[order]{
	{Name: "id", Set: func(o *order, v gjson.Result) bool { return replyjson.String(&o.ID, v) }},
	{Name: "entity", Set: func(o *order, v gjson.Result) bool { return replyjson.String(&o.Entity, v) }},
	{Name: "amount", Set: func(o *order, v gjson.Result) bool { return replyjson.Int64(&o.Amount, v) }},
	{Name: "amount_paid", Set: func(o *order, v gjson.Result) bool { return replyjson.Int64(&o.AmountPaid, v) }},
	{Name: "amount_due", Set: func(o *order, v gjson.Result) bool { return replyjson.Int64(&o.AmountDue, v) }},
	{Name: "currency", Set: func(o *order, v gjson.Result) bool { return replyjson.String(&o.Currency, v) }},
	{Name: "receipt", Set: func(o *order, v gjson.Result) bool { return replyjson.String(&o.Receipt, v) }},
	{Name: "status", Set: func(o *order, v gjson.Result) bool { return replyjson.String(&o.Status, v) }},
	{Name: "attempts", Set: func(o *order, v gjson.Result) bool { return replyjson.Int(&o.Attempts, v) }},
	{Name: "notes", Set: replyjson.Any[order]}, // {} or [], not read
	{Name: "created_at", Set: func(o *order, v gjson.Result) bool { return replyjson.Int64(&o.CreatedAt, v) }},
}

var paymentFields = []replyjson.Field[payment]{
	{Name: "id", Set: func(p *payment, v gjson.Result) bool { return replyjson.String(&p.ID, v) }},
	{Name: "entity", Set: func(p *payment, v gjson.Result) bool { return replyjson.String(&p.Entity, v) }},
	{Name: "amount", Set: func(p *payment, v gjson.Result) bool { return replyjson.Int64(&p.Amount, v) }},
	{Name: "currency", Set: func(p *payment, v gjson.Result) bool { return replyjson.String(&p.Currency, v) }},
	{Name: "status", Set: func(p *payment, v gjson.Result) bool { return replyjson.String(&p.Status, v) }},
	{Name: "order_id", Set: func(p *payment, v gjson.Result) bool { return replyjson.String(&p.OrderID, v) }},
	{Name: "amount_refunded", Set: func(p *payment, v gjson.Result) bool { return replyjson.Int64(&p.AmountRefunded, v) }},
	{Name: "refund_status", Set: func(p *payment, v gjson.Result) bool { return replyjson.String(&p.RefundStatus, v) }},
	{Name: "captured", Set: func(p *payment, v gjson.Result) bool { return replyjson.Bool(&p.Captured, v) }},
	{Name: "error_code", Set: func(p *payment, v gjson.Result) bool { return replyjson.String(&p.ErrorCode, v) }},
	{Name: "error_description", Set: func(p *payment, v gjson.Result) bool { return replyjson.String(&p.ErrorDescription, v) }},
	{Name: "error_reason", Set: func(p *payment, v gjson.Result) bool { return replyjson.String(&p.ErrorReason, v) }},
	{Name: "created_at", Set: func(p *payment, v gjson.Result) bool { return replyjson.Int64(&p.CreatedAt, v) }},
}

var refundFieldsWire = []replyjson.Field[refund]{
	{Name: "id", Set: func(r *refund, v gjson.Result) bool { return replyjson.String(&r.ID, v) }},
	{Name: "entity", Set: func(r *refund, v gjson.Result) bool { return replyjson.String(&r.Entity, v) }},
	{Name: "amount", Set: func(r *refund, v gjson.Result) bool { return replyjson.Int64(&r.Amount, v) }},
	{Name: "currency", Set: func(r *refund, v gjson.Result) bool { return replyjson.String(&r.Currency, v) }},
	{Name: "payment_id", Set: func(r *refund, v gjson.Result) bool { return replyjson.String(&r.PaymentID, v) }},
	{Name: "receipt", Set: func(r *refund, v gjson.Result) bool { return replyjson.String(&r.Receipt, v) }},
	{Name: "status", Set: func(r *refund, v gjson.Result) bool { return replyjson.String(&r.Status, v) }},
	{Name: "created_at", Set: func(r *refund, v gjson.Result) bool { return replyjson.Int64(&r.CreatedAt, v) }},
}

func decodeOrder(o *order, v gjson.Result) bool     { return replyjson.Struct(o, v, orderFields) }
func decodePayment(p *payment, v gjson.Result) bool { return replyjson.Struct(p, v, paymentFields) }
func decodeRefund(r *refund, v gjson.Result) bool   { return replyjson.Struct(r, v, refundFieldsWire) }

// collectionFields are the fields of a list reply of entities read by elem.
func collectionFields[T any](elem func(*T, gjson.Result) bool) []replyjson.Field[collection[T]] {
	return []replyjson.Field[collection[T]]{
		{Name: "entity", Set: func(c *collection[T], v gjson.Result) bool { return replyjson.String(&c.Entity, v) }},
		{Name: "count", Set: func(c *collection[T], v gjson.Result) bool { return replyjson.Int(&c.Count, v) }},
		{Name: "items", Set: func(c *collection[T], v gjson.Result) bool { return replyjson.Slice(&c.Items, v, elem) }},
	}
}

var (
	orderListFields   = collectionFields(decodeOrder)
	paymentListFields = collectionFields(decodePayment)
)

var envelopeErrorFields = []replyjson.Field[envelopeError]{
	{Name: "code", Set: func(e *envelopeError, v gjson.Result) bool { return replyjson.String(&e.Code, v) }},
	{Name: "description", Set: func(e *envelopeError, v gjson.Result) bool { return replyjson.String(&e.Description, v) }},
	{Name: "field", Set: func(e *envelopeError, v gjson.Result) bool { return replyjson.String(&e.Field, v) }},
	{Name: "source", Set: func(e *envelopeError, v gjson.Result) bool { return replyjson.String(&e.Source, v) }},
	{Name: "step", Set: func(e *envelopeError, v gjson.Result) bool { return replyjson.String(&e.Step, v) }},
	{Name: "reason", Set: func(e *envelopeError, v gjson.Result) bool { return replyjson.String(&e.Reason, v) }},
	{Name: "metadata", Set: replyjson.Any[envelopeError]}, // not read
}

var envelopeFields = []replyjson.Field[envelope]{
	{Name: "error", Set: func(e *envelope, v gjson.Result) bool {
		return replyjson.Pointer(&e.Error, v, func(x *envelopeError, v gjson.Result) bool {
			return replyjson.Struct(x, v, envelopeErrorFields)
		})
	}},
}

// decodeEntity reads a reply body into out, one of the entity types of
// wire.go (nil: the body is not read). False when the body is not JSON,
// or not the JSON expected.
func decodeEntity(body []byte, out any) bool {
	if out == nil {
		return true
	}
	root, ok := replyjson.Parse(body)
	if !ok {
		return false
	}
	switch out := out.(type) {
	case *order:
		return decodeOrder(out, root)
	case *refund:
		return decodeRefund(out, root)
	case *collection[order]:
		return replyjson.Struct(out, root, orderListFields)
	case *collection[payment]:
		return replyjson.Struct(out, root, paymentListFields)
	case *envelope:
		return replyjson.Struct(out, root, envelopeFields)
	}
	panic("razorpay: no reply decoder for this type")
}
