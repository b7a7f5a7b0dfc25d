package sandbox

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Webhooks (reference §8.1, §9): one POST of the JSON event envelope to
// the account's webhook_url, signed X-Razorpay-Signature =
// hex(HMAC-SHA256(raw body, webhook secret)), with X-Razorpay-Event-Id.
// Razorpay wants a 2xx within 5 seconds; the sandbox records each answer
// and does not retry (magic 1414 sends every event twice instead, same id
// and same bytes, as a retry would be).

// rzpWebhookTimeout is Razorpay's 5-second acknowledgement window.
const rzpWebhookTimeout = 5 * time.Second

// rzpWrapped is the {"entity": {...}} wrapper of each payload object.
type rzpWrapped[T any] struct {
	Entity T `json:"entity"`
}

// rzpWebhookPayload holds the entities an event contains, in the order of
// Razorpay's samples.
type rzpWebhookPayload struct {
	Refund  *rzpWrapped[rzpRefundEntity]  `json:"refund,omitempty"`
	Payment *rzpWrapped[rzpPaymentEntity] `json:"payment,omitempty"`
	Order   *rzpWrapped[rzpOrderEntity]   `json:"order,omitempty"`
}

// rzpWebhookBody is the event envelope of reference §9.2.
type rzpWebhookBody struct {
	Entity    string            `json:"entity"`
	AccountID string            `json:"account_id"`
	Event     string            `json:"event"`
	Contains  []string          `json:"contains"`
	Payload   rzpWebhookPayload `json:"payload"`
	CreatedAt int64             `json:"created_at"`
}

// rzpEvent is one webhook, its body frozen when the event happened.
type rzpEvent struct {
	id        string
	name      string
	body      []byte
	payment   *rzpPayment
	refundID  string
	duplicate bool
}

// rzpDelivery records one webhook attempt and how the receiver answered:
// its HTTP status, never the body of the answer.
type rzpDelivery struct {
	Event        string    `json:"event"`
	EventID      string    `json:"event_id"`
	RefundID     string    `json:"refund_id,omitempty"`
	URL          string    `json:"url,omitempty"`
	SignedWith   string    `json:"signed_with,omitempty"`
	HTTPStatus   int       `json:"http_status,omitempty"`
	Error        string    `json:"error,omitempty"`
	Acknowledged bool      `json:"acknowledged"`
	SentAt       time.Time `json:"sent_at"`
}

// eventLocked snapshots an event about p (and refund f, for refund.*).
// order.paid carries the order too. Caller holds rz.mu.
func (rz *razorpay) eventLocked(name string, p *rzpPayment, f *rzpRefund) rzpEvent {
	body := rzpWebhookBody{
		Entity:    "event",
		AccountID: razorpayAccountID,
		Event:     name,
		Contains:  []string{"payment"},
		Payload:   rzpWebhookPayload{Payment: &rzpWrapped[rzpPaymentEntity]{p.entity()}},
		CreatedAt: time.Now().Unix(),
	}
	ev := rzpEvent{id: rzpAlnum(14), name: name, payment: p, duplicate: p.Duplicate}
	switch {
	case f != nil:
		body.Contains = []string{"refund", "payment"}
		body.Payload.Refund = &rzpWrapped[rzpRefundEntity]{f.entity()}
		ev.refundID = f.ID
	case name == "order.paid":
		body.Contains = []string{"payment", "order"}
		body.Payload.Order = &rzpWrapped[rzpOrderEntity]{p.Order.entity()}
	}
	ev.body = rzpMarshal(body)
	return ev
}

// sendAsync delivers events in order in the background.
func (rz *razorpay) sendAsync(events []rzpEvent) {
	if len(events) > 0 {
		rz.env.goAsync(func(ctx context.Context) { rz.deliver(ctx, events) })
	}
}

// deliver sends each event (twice when duplicate) and records every
// attempt on its payment. It runs in a goroutine started by env.goAsync.
func (rz *razorpay) deliver(ctx context.Context, events []rzpEvent) {
	for _, ev := range events {
		times := 1
		if ev.duplicate {
			times = 2
		}
		for range times {
			if ctx.Err() != nil {
				return
			}
			d := rzpDelivery{Event: ev.name, EventID: ev.id, RefundID: ev.refundID, URL: rz.webhookURL, SentAt: time.Now().UTC()}
			if rz.webhookURL == "" {
				d.Error = "no webhook_url configured; nothing sent"
			} else {
				d.SignedWith = rz.signingLabel
				d.HTTPStatus, d.Error = rz.post(ctx, ev)
				d.Acknowledged = d.HTTPStatus >= 200 && d.HTTPStatus < 300
			}
			rz.mu.Lock()
			ev.payment.Webhooks = append(ev.payment.Webhooks, d)
			rz.mu.Unlock()
			rz.env.logger.Debug("payments sandbox: razorpay webhook",
				zap.String("event", ev.name),
				zap.String("event_id", ev.id),
				zap.String("payment_id", ev.payment.ID),
				zap.Int("http_status", d.HTTPStatus),
				zap.Bool("acknowledged", d.Acknowledged),
				zap.String("error", d.Error))
			if rz.webhookURL == "" {
				break
			}
		}
	}
}

// post sends one webhook and returns the receiver's status; the answer's
// body is never kept.
func (rz *razorpay) post(ctx context.Context, ev rzpEvent) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, rzpWebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rz.webhookURL, bytes.NewReader(ev.body))
	if err != nil {
		return 0, "building request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Razorpay-Webhook/v1 (caddy-payments-sandbox)")
	req.Header.Set("X-Razorpay-Signature", rzpSign(rz.webhookSecret, ev.body))
	req.Header.Set("X-Razorpay-Event-Id", ev.id)
	status, _, errText := rz.env.deliver(req)
	return status, errText
}
