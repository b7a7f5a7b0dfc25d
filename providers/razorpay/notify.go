package razorpay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/internal/eventjson"
	"github.com/caddy-payments/caddy-payments/providers/internal/replyjson"
)

// Webhook headers (reference §9.1).
const (
	headerSignature = "X-Razorpay-Signature"
	headerEventID   = "X-Razorpay-Event-Id"
)

// sign is hex HMAC-SHA256(message, key): the webhook signature (raw body,
// webhook secret) and the payment signature (order_id|payment_id, key
// secret), reference §8.
func sign(message []byte, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(message)
	return hex.EncodeToString(m.Sum(nil))
}

// verifyHex compares a received hex signature with HMAC-SHA256(message,
// key) for each key, in constant time per key. Hex is decoded first so
// upper-case hex compares equal.
func verifyHex(received string, message []byte, keys []string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(received))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ok := false
	for _, k := range keys {
		m := hmac.New(sha256.New, []byte(k))
		m.Write(message)
		if hmac.Equal(m.Sum(nil), got) {
			ok = true
		}
	}
	return ok
}

// unauthenticated wraps ErrUnauthenticated with a reason that names no
// value from the notification.
func unauthenticated(reason string) error {
	return fmt.Errorf("razorpay: %s: %w", reason, providers.ErrUnauthenticated)
}

// event is the webhook envelope (reference §9.2), read by decodeEvent.
// Entities are decoded leniently and only when used: an unknown event
// carries entities this package never reads.
type event struct {
	Entity    string   `json:"entity"`
	AccountID string   `json:"account_id"`
	Event     string   `json:"event"`
	Contains  []string `json:"contains"`
	Payload   struct {
		Payment *entityRef `json:"payment"`
		Order   *entityRef `json:"order"`
		Refund  *entityRef `json:"refund"`
	} `json:"payload"`
	CreatedAt int64 `json:"created_at"`
}

// entityRef is one payload member, {"entity":{…}}: the entity's value as
// read (not Exists when the member has no entity).
type entityRef struct {
	Entity gjson.Result `json:"entity"`
}

// The webhook is read with gjson (replyjson), as the replies are: the json
// tags above say what is read, and decodeEvent accepts exactly what
// encoding/json accepted into this struct with json.RawMessage entities,
// with the same values (notify_diff_test.go holds the two together).
var (
	entityRefFields = []replyjson.Field[entityRef]{
		{Name: "entity", Set: func(r *entityRef, v gjson.Result) bool { r.Entity = v; return true }},
	}
	payloadRef = func(dst **entityRef, v gjson.Result) bool {
		return replyjson.Pointer(dst, v, func(r *entityRef, v gjson.Result) bool { return replyjson.Struct(r, v, entityRefFields) })
	}
	payloadFields = []replyjson.Field[event]{
		{Name: "payment", Set: func(e *event, v gjson.Result) bool { return payloadRef(&e.Payload.Payment, v) }},
		{Name: "order", Set: func(e *event, v gjson.Result) bool { return payloadRef(&e.Payload.Order, v) }},
		{Name: "refund", Set: func(e *event, v gjson.Result) bool { return payloadRef(&e.Payload.Refund, v) }},
	}
	eventFields = []replyjson.Field[event]{
		{Name: "entity", Set: func(e *event, v gjson.Result) bool { return replyjson.String(&e.Entity, v) }},
		{Name: "account_id", Set: func(e *event, v gjson.Result) bool { return replyjson.String(&e.AccountID, v) }},
		{Name: "event", Set: func(e *event, v gjson.Result) bool { return replyjson.String(&e.Event, v) }},
		{Name: "contains", Set: func(e *event, v gjson.Result) bool { return replyjson.Slice(&e.Contains, v, replyjson.String) }},
		{Name: "payload", Set: func(e *event, v gjson.Result) bool { return replyjson.Struct(e, v, payloadFields) }},
		{Name: "created_at", Set: func(e *event, v gjson.Result) bool { return replyjson.Int64(&e.CreatedAt, v) }},
	}
)

// decodeEvent reads a webhook body into ev; false when it is not JSON or
// does not fit event.
func decodeEvent(body []byte, ev *event) bool {
	root, ok := replyjson.Parse(body)
	return ok && replyjson.Struct(ev, root, eventFields)
}

// decodeEntityRef reads a payload member's entity into dst with decode;
// false when the member has no entity or it does not fit (as
// json.Unmarshal of a missing json.RawMessage entity failed).
func decodeEntityRef[T any](r *entityRef, dst *T, decode func(*T, gjson.Result) bool) bool {
	return r.Entity.Exists() && decode(dst, r.Entity)
}

// paymentEvents map the webhook events about a payment to canonical
// events (and statuses).
var paymentEvents = map[string]providers.Status{
	"payment.authorized": providers.StatusAuthorized,
	"payment.captured":   providers.StatusSucceeded,
	"payment.failed":     providers.StatusFailed,
	"order.paid":         providers.StatusSucceeded,
}

var refundEvents = map[string]string{
	"refund.created":   providers.RefundPending,
	"refund.processed": providers.RefundSucceeded,
	"refund.failed":    providers.RefundFailed,
}

// webhookWindow is how long Razorpay retries a webhook: with exponential
// backoff for 24 hours from the event's created_at, then the webhook is
// disabled (reference §9.6: RD:webhooks/setup-edit-payments,
// webhooks/best-practices, webhooks/faqs). A webhook whose signed
// created_at is older is a replay as far as the gateway can tell: the
// Dashboard's manual replay (up to 7 days, §9.6) and support's (up to 15)
// are legitimate ones, and the host still acts on them, but only on what
// a fetch from Razorpay says.
const webhookWindow = 24 * time.Hour

// VerifyNotification implements providers.Provider. X-Razorpay-Signature
// must be hex HMAC-SHA256 of the raw body with one of the configured
// webhook secrets; nothing is parsed before that. The body is signed, so
// every claim in it is SignedBody.
//
// With account_id configured, the signed account_id of the body must name
// that account: a webhook of another account that happens to share a
// webhook secret is refused as unauthenticated.
//
// EventKey is a hash of the signed body alone: Razorpay's retries of one
// event carry the same body, and the unsigned X-Razorpay-Event-Id header
// can neither mint a new event nor merge two. At is the body's signed
// created_at and MaxAge Razorpay's retry window (webhookWindow); a body
// without a valid created_at states no time and is treated as older than
// any window (At is the Unix epoch), so only a fetch can confirm it.
//
// payment.failed is an Unsigned status claim, confirmed by a fetch: a
// failed attempt may still be authorised late (reference §4.3), and an
// order made by an earlier version of the gateway can hold two attempts,
// so one failed attempt does not make the order failed.
func (p *Provider) VerifyNotification(in *providers.IncomingNotification) (*providers.Notification, error) {
	if in == nil || len(in.Body) == 0 {
		return nil, unauthenticated("empty notification")
	}
	sigs := in.Header.Values(headerSignature)
	if len(sigs) != 1 || sigs[0] == "" {
		return nil, unauthenticated("X-Razorpay-Signature is missing or repeated")
	}
	if !verifyHex(sigs[0], in.Body, p.webhookSecrets) {
		return nil, unauthenticated("X-Razorpay-Signature does not match the body")
	}
	var ev event
	if !decodeEvent(in.Body, &ev) || ev.Entity != "event" || ev.Event == "" {
		return nil, providers.Invalid("body", "the signed webhook body is not a Razorpay event")
	}
	if p.AccountID != "" && ev.AccountID != p.AccountID {
		return nil, unauthenticated("the webhook is about another Razorpay account than account_id")
	}
	at := time.Unix(0, 0).UTC()
	if ev.CreatedAt > 0 && ev.CreatedAt <= maxCreatedAt {
		at = time.Unix(ev.CreatedAt, 0).UTC()
	}
	sum := sha256.Sum256(in.Body)
	n := &providers.Notification{
		Object: "payment",
		// The whole body is signed; X-Razorpay-Event-Id is an unsigned
		// header and takes no part in the key.
		EventKey: hex.EncodeToString(sum[:16]),
		Trust: providers.Claims{Object: providers.SignedBody, Status: providers.SignedBody,
			Amount: providers.SignedBody, Reference: providers.SignedBody, Time: providers.SignedBody},
		At:             at,
		MaxAge:         webhookWindow,
		ProviderEvent:  providerEventOfValid(in.Body),
		ProviderStatus: ev.Event,
	}
	var pay *payment
	if ev.Payload.Payment != nil {
		pay = new(payment)
		if !decodeEntityRef(ev.Payload.Payment, pay, decodePayment) {
			return nil, providers.Invalid("body", "the payment entity of the webhook could not be read")
		}
	}
	if status, ok := paymentEvents[ev.Event]; ok {
		var o order
		if ev.Payload.Order != nil {
			if !decodeEntityRef(ev.Payload.Order, &o, decodeOrder) {
				return nil, providers.Invalid("body", "the order entity of the webhook could not be read")
			}
		}
		switch {
		case pay != nil && orderIDRe.MatchString(pay.OrderID):
			n.ProviderRef = pay.OrderID
		case orderIDRe.MatchString(o.ID):
			n.ProviderRef = o.ID
		default:
			// A payment outside an order (not made by this gateway).
			n.ProviderStatus = ev.Event
			return n, nil
		}
		n.Reference = o.Receipt
		n.EventType, n.Status = "payment."+string(status), string(status)
		if ev.Event == "payment.failed" {
			// The signed body says one attempt failed; that the order
			// (the canonical payment) failed is an inference.
			n.Trust.Status = providers.Unsigned
		}
		switch {
		case pay != nil && pay.Currency != "":
			n.Amount, n.Currency = pay.Amount, pay.Currency
			if pay.Status != "" {
				n.ProviderStatus = pay.Status
			}
			if pay.Status == "failed" {
				n.ProviderMessage = pay.ErrorDescription
			}
		case o.Currency != "":
			n.Amount, n.Currency = o.Amount, o.Currency
		}
		return n, nil
	}
	if status, ok := refundEvents[ev.Event]; ok && ev.Payload.Refund != nil {
		var rf refund
		if !decodeEntityRef(ev.Payload.Refund, &rf, decodeRefund) {
			return nil, providers.Invalid("body", "the refund entity of the webhook could not be read")
		}
		n.Object = "refund"
		if !refundIDRe.MatchString(rf.ID) {
			return n, nil
		}
		n.ProviderRef, n.Reference = rf.ID, rf.Receipt
		n.EventType, n.Status = "refund."+status, status
		n.ProviderStatus = rf.Status
		n.Amount, n.Currency = rf.Amount, rf.Currency
		if pay != nil && orderIDRe.MatchString(pay.OrderID) {
			n.PaymentRef = pay.OrderID
		}
		return n, nil
	}
	// Verified, but no canonical event (refund.speed_changed,
	// payment.downtime.*, …): acknowledged and counted by the host.
	if ev.Payload.Refund != nil && ev.Payload.Payment == nil {
		n.Object = "refund"
	}
	return n, nil
}

// maskedFields are bank account fields masked to the last four in
// ProviderEvent.
var maskedFields = map[string]bool{"account_number": true, "iban": true, "bank_account_number": true}

// eventRules mask bank account numbers (string values) at any depth.
// Webhook bodies carry no secret and no signature (those are headers).
var eventRules = &eventjson.Rules{Mask: maskedFields}

// providerEvent is the (already verified) body for the forwarded event, as
// raw JSON, with bank account numbers masked. Number literals are copied
// byte for byte, so amounts are not turned into floats.
func providerEvent(body []byte) json.RawMessage {
	return eventjson.Scrub(body, eventRules)
}

// providerEventOfValid is providerEvent of a body decodeEvent has just
// read (so valid JSON: not validated again).
func providerEventOfValid(body []byte) json.RawMessage {
	return eventjson.ScrubValid(body, eventRules)
}

// Acknowledge implements providers.Provider: Razorpay wants any 2xx
// within 5 seconds (reference §9.6).
func (p *Provider) Acknowledge(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("ok"))
	return err
}
