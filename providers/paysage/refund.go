package paysage

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/caddy-payments/caddy-payments/providers"
)

// defaultReason is sent when the merchant gives no reason: PaySage's APM
// refund requires one (reference §6), the canonical API does not.
const defaultReason = "Refund requested by the merchant"

// wireRefund is the APM refund request (reference §6): parent_uid,
// amount (minor units), reason, and the merchant's refund reference as
// tracking_id.
type wireRefund struct {
	ParentUID  string `json:"parent_uid"`
	Amount     int64  `json:"amount"`
	Reason     string `json:"reason"`
	TrackingID string `json:"tracking_id,omitempty"`
}

// ValidateRefund implements providers.Refunder.
func (p *Provider) ValidateRefund(req *providers.RefundRequest) error {
	_, err := p.buildRefund(req)
	return err
}

// buildRefund maps a canonical refund. The amount must be positive and
// at most the payment (PaySage: "must not exceed the amount of the parent
// transaction"); the sum of several partial refunds is the host's to
// enforce, as it holds the refunded total.
func (p *Provider) buildRefund(req *providers.RefundRequest) (*wireRefund, error) {
	if err := p.checkAmount("amount", req.Amount, req.Currency); err != nil {
		return nil, err
	}
	if req.PaymentAmount > 0 && req.Amount > req.PaymentAmount {
		return nil, providers.Invalid("amount", "amount must not exceed the payment amount (%d)", req.PaymentAmount)
	}
	if !validUID(req.PaymentProviderRef) {
		return nil, providers.Invalid("payment_id", "payment_id does not name a PaySage transaction")
	}
	if err := checkReference("reference", req.Reference, false); err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		reason = defaultReason
	}
	if utf8.RuneCountInString(reason) > 255 {
		return nil, providers.Invalid("reason", "reason must be at most 255 characters for PaySage")
	}
	return &wireRefund{ParentUID: req.PaymentProviderRef, Amount: req.Amount, Reason: reason, TrackingID: req.Reference}, nil
}

// Refund implements providers.Refunder: POST /beyag/transactions/refunds.
// Several partial refunds of one payment are allowed. A 5xx or unreadable
// reply is an unknown outcome (see outcomeUnknown).
func (p *Provider) Refund(ctx context.Context, do providers.Doer, req *providers.RefundRequest) (*providers.Refund, error) {
	w, err := p.buildRefund(req)
	if err != nil {
		return nil, err
	}
	reply, err := p.call(ctx, do, http.MethodPost, pathRefunds, w, p.requestID("refund", req.IdempotencyKey))
	if err != nil {
		return nil, noBlindRetry(err, req.IdempotencyKey != "", lookupRefund)
	}
	t, err := transactionReply(reply)
	if err != nil {
		return nil, outcomeUnknown(err, reply.StatusCode, lookupRefund)
	}
	rf, err := p.refundFromCreate(req, t)
	if err != nil {
		return nil, outcomeUnknown(err, reply.StatusCode, lookupRefund)
	}
	return rf, nil
}

// refundFromCreate maps the refund reply: successful → succeeded, pending
// → pending; failed → provider_declined, error → provider_error (nothing
// was refunded, so the host releases the amount). A reply about another
// payment, amount or currency is garbage.
func (p *Provider) refundFromCreate(req *providers.RefundRequest, t *transaction) (*providers.Refund, error) {
	if t.Type != "" && t.Type != "refund" {
		return nil, providers.Garbage("PaySage reply is not a refund transaction")
	}
	if t.ParentUID != "" && t.ParentUID != req.PaymentProviderRef {
		return nil, providers.Garbage("PaySage refund reply names another payment")
	}
	if t.amountMinor != req.Amount || t.Currency != req.Currency {
		return nil, providers.Garbage("PaySage refund reply names another amount or currency")
	}
	switch strings.ToLower(t.Status) {
	case "failed":
		return nil, providers.Declined("failed", clip(t.message()))
	case "error":
		return nil, providers.ProviderFault("error", clip(t.message()), providers.SentYes, false)
	}
	rf := p.refundFromTransaction(t)
	if rf.Reference == "" {
		rf.Reference = req.Reference
	}
	return rf, nil
}

// refundFromTransaction is the canonical refund of a checked refund
// transaction; an unknown status stays pending (nothing final is claimed).
func (p *Provider) refundFromTransaction(t *transaction) *providers.Refund {
	st := refundStatus(t.Status)
	if st == "" {
		st = providers.RefundPending
	}
	return &providers.Refund{
		Object:            "refund",
		ProviderReference: t.UID,
		Reference:         t.TrackingID,
		Amount:            t.amountMinor,
		Currency:          t.Currency,
		Status:            st,
		ProviderStatus:    t.Status,
		ProviderMessage:   clip(t.message()),
		Test:              p.Test || t.Test,
		CreatedAt:         t.created(),
	}
}

// GetRefund implements providers.Refunder: a refund is a transaction of
// its own, fetched by uid like a payment.
func (p *Provider) GetRefund(ctx context.Context, do providers.Doer, ref string) (*providers.Refund, error) {
	t, err := p.fetch(ctx, do, ref, "refund")
	if err != nil {
		return nil, err
	}
	if t.Type != "refund" && (t.Type != "" || t.ParentUID == "") {
		return nil, providers.NotFound("no PaySage refund with this id")
	}
	return p.refundFromTransaction(t), nil
}
