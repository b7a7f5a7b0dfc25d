package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// rzpIdempotent remembers the refund made under one X-Refund-Idempotency
// key and the request it answered.
type rzpIdempotent struct {
	fingerprint string
	refund      *rzpRefund
}

// rzpValidIdempotencyKey is the documented key rule: at least 10
// characters from [A-Za-z0-9_-] (reference §10).
func rzpValidIdempotencyKey(k string) bool {
	if len(k) < 10 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// rzpRefundInput is a validated refund body.
type rzpRefundInput struct {
	amount  int64 // 0: the whole unrefunded rest
	speed   string
	notes   map[string]any
	receipt *string
}

// refund emulates POST /v1/payments/<id>/refund (reference §6.1, §10).
// Every field is optional, so an empty body refunds the unrefunded rest.
// The same X-Refund-Idempotency key with the same payment and body
// answers the same refund; with a different request it is refused.
func (rz *razorpay) refund(w http.ResponseWriter, r *http.Request, payID string) error {
	b, e := rzpReadBody(w, r, true)
	if e == nil {
		e = b.extra("amount", "speed", "notes", "receipt")
	}
	_, hasKey := r.Header[http.CanonicalHeaderKey("X-Refund-Idempotency")]
	key := r.Header.Get("X-Refund-Idempotency")
	if e == nil && hasKey && !rzpValidIdempotencyKey(key) {
		e = rzpBad("X-Refund-Idempotency", "The X-Refund-Idempotency header must be at least 10 characters from A-Z, a-z, 0-9, _ and -.")
	}
	var in rzpRefundInput
	if e == nil {
		in, e = rzpCheckRefund(b)
	}
	if e != nil {
		return rzpWriteError(w, e)
	}
	fingerprint := payID + "\x00" + rzpCanonical(b)

	rz.mu.Lock()
	if seen := rz.idempotent[key]; hasKey && seen != nil {
		var ent rzpRefundEntity
		if seen.fingerprint == fingerprint {
			ent = seen.refund.entity()
		}
		rz.mu.Unlock()
		if seen.fingerprint != fingerprint {
			return rzpWriteError(w, rzpBad("", "Different request with the same idempotency key has already been processed."))
		}
		return rzpWriteJSON(w, http.StatusOK, ent)
	}
	f, events, e := rz.newRefundLocked(payID, in)
	if e != nil {
		rz.mu.Unlock()
		return rzpWriteError(w, e)
	}
	if hasKey {
		rz.idempotent[key] = &rzpIdempotent{fingerprint: fingerprint, refund: f}
	}
	ent := f.entity()
	rz.mu.Unlock()

	if f.Status == rzpRefundProcessed {
		rz.sendAsync(events)
	} else {
		// Magic refund amount: the refund fails after notify_delay.
		rz.env.goAsync(func(ctx context.Context) {
			rz.deliver(ctx, events)
			if !rz.env.sleep(ctx, rz.env.notifyDelay) {
				return
			}
			rz.mu.Lock()
			f.Status = rzpRefundFailed
			p := f.Payment
			p.AmountRefunded -= f.Amount
			if p.Status == rzpPayRefunded {
				p.Status = rzpPayCaptured
			}
			failed := []rzpEvent{rz.eventLocked("refund.failed", p, f)}
			rz.mu.Unlock()
			rz.deliver(ctx, failed)
		})
	}
	return rzpWriteJSON(w, http.StatusOK, ent)
}

// rzpCheckRefund validates a refund body.
func rzpCheckRefund(b rzpBody) (rzpRefundInput, *rzpError) {
	in := rzpRefundInput{speed: "normal"}
	if n, ok, e := b.integer("amount"); e != nil {
		return in, e
	} else if ok && n == 0 {
		return in, rzpBad("amount", "Amount cannot be blank")
	} else if ok && n < 0 {
		return in, rzpBad("amount", "The amount must be at least 1.")
	} else {
		in.amount = n
	}
	if s, ok, e := b.str("speed"); e != nil {
		return in, e
	} else if ok {
		if s != "normal" && s != "optimum" {
			return in, rzpBad("speed", "The selected speed is invalid.")
		}
		in.speed = s
	}
	var e *rzpError
	if in.notes, e = b.notes(); e != nil {
		return in, e
	}
	if s, ok, e := b.str("receipt"); e != nil {
		return in, e
	} else if ok {
		in.receipt = &s
	}
	return in, nil
}

// newRefundLocked checks the payment and creates the refund with its
// webhooks. The sum of refunds never exceeds the captured amount.
// Caller holds rz.mu.
func (rz *razorpay) newRefundLocked(payID string, in rzpRefundInput) (*rzpRefund, []rzpEvent, *rzpError) {
	p := rz.payments[payID]
	if p == nil {
		return nil, nil, rzpNotFound()
	}
	if p.Status != rzpPayCaptured && p.Status != rzpPayRefunded {
		return nil, nil, rzpBad("", "The payment status should be captured for action to be taken.")
	}
	rest := p.Amount - p.AmountRefunded
	amount := in.amount
	if amount == 0 {
		amount = rest
	}
	switch {
	case rest == 0:
		return nil, nil, rzpBad("amount", "The payment has been fully refunded already")
	case amount > rest:
		return nil, nil, rzpBad("amount", "The refund amount provided is greater than amount captured")
	}
	if in.receipt != nil {
		for _, old := range p.Refunds {
			if old.Receipt != nil && *old.Receipt == *in.receipt {
				return nil, nil, rzpBad("receipt", "Duplicate receipt found for this refund request")
			}
		}
	}
	f := &rzpRefund{
		Payment:        p,
		Amount:         amount,
		Notes:          in.notes,
		Receipt:        in.receipt,
		Status:         rzpRefundProcessed,
		SpeedRequested: in.speed,
		SpeedProcessed: "normal",
		CreatedAt:      time.Now().Unix(),
	}
	if in.speed == "optimum" {
		f.SpeedProcessed = "instant"
	}
	if amount == rzpMagicRefundFail {
		f.Status = rzpRefundPending
	}
	for {
		f.ID = rzpID("rfnd")
		if _, taken := rz.refunds[f.ID]; !taken {
			break
		}
	}
	rz.refunds[f.ID] = f
	p.Refunds = append(p.Refunds, f)
	p.AmountRefunded += amount
	if p.AmountRefunded == p.Amount {
		p.Status = rzpPayRefunded
	}
	events := []rzpEvent{rz.eventLocked("refund.created", p, f)}
	if f.Status == rzpRefundProcessed {
		events = append(events, rz.eventLocked("refund.processed", p, f))
	}
	return f, events, nil
}

// rzpCanonical renders a body with sorted keys and no insignificant
// whitespace, so equal requests compare equal however they were spaced.
func rzpCanonical(b rzpBody) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(rzpMarshal(b)))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return ""
	}
	return string(rzpMarshal(v))
}

// fetchRefund emulates GET /v1/refunds/<id> and, with payID, GET
// /v1/payments/<pay_id>/refunds/<id>.
func (rz *razorpay) fetchRefund(w http.ResponseWriter, id, payID string) error {
	rz.mu.Lock()
	f := rz.refunds[id]
	var ent rzpRefundEntity
	ok := f != nil && (payID == "" || f.Payment.ID == payID)
	if ok {
		ent = f.entity()
	}
	rz.mu.Unlock()
	if !ok {
		return rzpWriteError(w, rzpNotFound())
	}
	return rzpWriteJSON(w, http.StatusOK, ent)
}

// paymentRefunds emulates GET /v1/payments/<id>/refunds, newest first.
func (rz *razorpay) paymentRefunds(w http.ResponseWriter, r *http.Request, payID string) error {
	page, e := rzpPaging(r.URL.Query())
	if e != nil {
		return rzpWriteError(w, e)
	}
	rz.mu.Lock()
	p := rz.payments[payID]
	var items []any
	if p != nil {
		for _, f := range slices.Backward(p.Refunds) {
			items = append(items, f.entity())
		}
	}
	rz.mu.Unlock()
	if p == nil {
		return rzpWriteError(w, rzpNotFound())
	}
	return rzpWriteJSON(w, http.StatusOK, page.collection(items))
}
