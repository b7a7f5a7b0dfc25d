package razorpay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/caddy-payments/caddy-payments/providers"
)

// refundStatus maps a Razorpay refund status (reference §6.2).
func refundStatus(s string) string {
	switch s {
	case "processed":
		return providers.RefundSucceeded
	case "failed":
		return providers.RefundFailed
	}
	// "pending", and anything new: not final.
	return providers.RefundPending
}

// idempotencyKeyRe is what X-Refund-Idempotency accepts (reference §10).
var idempotencyKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]{10,64}$`)

// refundIdempotencyKey chooses the X-Refund-Idempotency value: the
// merchant's Idempotency-Key when Razorpay accepts it as is, else one
// derived from it, else one derived from the refund reference and the
// payment (a merchant retrying the same refund reference gets the same
// key), else none.
func refundIdempotencyKey(req *providers.RefundRequest, paymentID string) string {
	switch {
	case idempotencyKeyRe.MatchString(req.IdempotencyKey):
		return req.IdempotencyKey
	case req.IdempotencyKey != "":
		return "ik_" + hash40(req.IdempotencyKey)
	case req.Reference != "":
		return "rr_" + hash40(paymentID+"|"+req.Reference)
	}
	return ""
}

func hash40(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:20])
}

// ValidateRefund implements providers.Refunder.
func (p *Provider) ValidateRefund(req *providers.RefundRequest) error {
	if req.Amount <= 0 {
		return providers.Invalid("amount", "amount must be a positive integer number of minor units")
	}
	if req.PaymentAmount > 0 && req.Amount > req.PaymentAmount {
		return providers.Invalid("amount", "amount must not exceed the payment amount of %d", req.PaymentAmount)
	}
	if len(req.Reference) > maxReceipt || !isASCII(req.Reference) {
		return providers.Invalid("reference", "reference must be at most %d ASCII characters (it is Razorpay's refund receipt)", maxReceipt)
	}
	if utf8.RuneCountInString(req.Reason) > maxNoteValue {
		return providers.Invalid("reason", "reason must be at most %d characters (a Razorpay note)", maxNoteValue)
	}
	if !orderIDRe.MatchString(req.PaymentProviderRef) {
		return providers.Invalid("payment_id", "the payment is not a Razorpay order of this account")
	}
	return nil
}

// Refund implements providers.Refunder. The payment's provider reference
// is the order, so the captured attempt of the order is found first
// (GET /v1/orders/{id}/payments), then refunded:
// POST /v1/payments/{pay_id}/refund with X-Refund-Idempotency when the
// merchant gave an Idempotency-Key or a refund reference. An unknown
// outcome (5xx, unreadable reply, timeout) is retryable only when that
// header was sent.
func (p *Provider) Refund(ctx context.Context, do providers.Doer, req *providers.RefundRequest) (*providers.Refund, error) {
	if err := p.ValidateRefund(req); err != nil {
		return nil, err
	}
	var list collection[payment]
	if _, err := p.call(ctx, do, request{method: http.MethodGet, path: "/v1/orders/" + req.PaymentProviderRef + "/payments"}, &list); err != nil {
		return nil, err
	}
	var captured *payment
	for i := range list.Items {
		q := &list.Items[i]
		if (q.Status == "captured" || q.Status == "refunded") && paymentIDRe.MatchString(q.ID) {
			captured = q
			break
		}
	}
	if captured == nil {
		return nil, providers.Invalid("payment_id", "Razorpay has no captured payment on this order, so there is nothing to refund")
	}
	if req.Currency != "" && captured.Currency != req.Currency {
		return nil, providers.Invalid("currency", "the refund currency must be the payment's (%s)", captured.Currency)
	}
	body := &refundRequest{Amount: req.Amount, Speed: "normal", Receipt: req.Reference}
	if req.Reason != "" {
		body.Notes = map[string]string{"reason": req.Reason}
	}
	r := request{method: http.MethodPost, path: "/v1/payments/" + captured.ID + "/refund", body: body, fields: refundFields}
	key := refundIdempotencyKey(req, captured.ID)
	if key != "" {
		r.header = http.Header{"X-Refund-Idempotency": {key}}
	}
	// unknown is how a reply that leaves the outcome unknown is reported.
	// With X-Refund-Idempotency, Razorpay answers a repeat of the same
	// refund with the first one (reference §10), so the merchant may retry
	// with the same Idempotency-Key or reference; without it, a repeat
	// could refund twice.
	unknown := func(err error) error {
		if key != "" {
			e := providers.AsError(err)
			if e.RequestSent == providers.SentUnknown {
				e.Message += "; retry with the same Idempotency-Key and reference (Razorpay's X-Refund-Idempotency makes the repeat safe), or look the refund up on the payment"
			}
			return e
		}
		return notIdempotent(err, "look the payment's refunds up (GET /payments/{id}) before refunding again")
	}
	var rf refund
	if _, err := p.call(ctx, do, r, &rf); err != nil {
		return nil, unknown(err)
	}
	if !refundIDRe.MatchString(rf.ID) {
		return nil, unknown(providers.Garbage("the refund reply has no valid refund id"))
	}
	if rf.Amount < 0 {
		return nil, unknown(providers.Garbage("the refund reply has a negative amount"))
	}
	// The reply must be the refund that was asked for: another amount or
	// currency means the gateway cannot tell what was refunded, so the
	// outcome is unknown (and the ledger keeps its reservation).
	if rf.Amount != req.Amount || (rf.Currency != "" && rf.Currency != captured.Currency) {
		return nil, unknown(providers.Garbage("the refund reply is for another amount or currency than was requested"))
	}
	out := p.canonicalRefund(&rf)
	if req.Reference != "" {
		// The merchant's reference is what was sent as receipt.
		out.Reference = req.Reference
	}
	return out, nil
}

// GetRefund implements providers.Refunder: GET /v1/refunds/{id}.
func (p *Provider) GetRefund(ctx context.Context, do providers.Doer, ref string) (*providers.Refund, error) {
	if !refundIDRe.MatchString(ref) {
		return nil, providers.NotFound("no Razorpay refund %q: refund references of this account are rfnd_ ids", ref)
	}
	var rf refund
	if _, err := p.call(ctx, do, request{method: http.MethodGet, path: "/v1/refunds/" + ref}, &rf); err != nil {
		return nil, err
	}
	if rf.ID != ref {
		return nil, providers.Garbage("the refund reply is about another refund")
	}
	if rf.Amount < 0 {
		return nil, providers.Garbage("the refund reply has a negative amount")
	}
	return p.canonicalRefund(&rf), nil
}

func (p *Provider) canonicalRefund(rf *refund) *providers.Refund {
	out := &providers.Refund{
		Object: "refund", ProviderReference: rf.ID, Reference: rf.Receipt,
		Amount: rf.Amount, Currency: rf.Currency,
		Status: refundStatus(rf.Status), ProviderStatus: rf.Status, Test: p.test,
	}
	if rf.CreatedAt > 0 && rf.CreatedAt <= maxCreatedAt {
		out.CreatedAt = time.Unix(rf.CreatedAt, 0).UTC()
	}
	return out
}
