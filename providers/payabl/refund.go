package payabl

import (
	"context"
	"net/url"
	"strconv"

	"github.com/caddy-payments/caddy-payments/providers"
)

// ValidateRefund implements providers.Refunder.
func (p *Provider) ValidateRefund(req *providers.RefundRequest) error {
	_, err := buildRefund(req)
	return err
}

// buildRefund maps a canonical refund to payment_refund (reference §3):
// transactionid of the captured payment, amount ("8.2", at most the
// payment), currency, and the merchant's refund reference as external_id
// (255 characters).
func buildRefund(req *providers.RefundRequest) (url.Values, error) {
	if req.Amount <= 0 {
		return nil, providers.Invalid("amount", "amount must be greater than 0")
	}
	if req.PaymentAmount > 0 && req.Amount > req.PaymentAmount {
		return nil, providers.Invalid("amount", "amount must not exceed the payment amount")
	}
	amount, err := wireAmount("amount", req.Amount, req.Currency)
	if err != nil {
		return nil, err
	}
	if !validTxID(req.PaymentProviderRef) {
		return nil, providers.Invalid("payment_id", "payment_id does not name a payabl transaction")
	}
	if err := text("reference", req.Reference, 255); err != nil {
		return nil, err
	}
	v := url.Values{
		"transactionid": {req.PaymentProviderRef},
		"amount":        {amount},
		"currency":      {req.Currency},
	}
	if req.Reference != "" {
		v.Set("external_id", req.Reference)
	}
	return v, nil
}

// Refund implements providers.Refunder.
func (p *Provider) Refund(ctx context.Context, do providers.Doer, req *providers.RefundRequest) (*providers.Refund, error) {
	params, err := buildRefund(req)
	if err != nil {
		return nil, err
	}
	body, err := p.callMoney(ctx, do, opRefund, params, "refund")
	if err != nil {
		return nil, err
	}
	out, err := p.refundFromReply(req, body)
	if err != nil {
		return nil, lookUp(err, "refund")
	}
	return out, nil
}

// refundFromReply maps the payment_refund reply. payabl refunds
// synchronously: status 0 means the credit note was booked, so the refund
// is succeeded (a later refund notification with a negative errorcode can
// still report a failure); 2000 is pending; anything else is a decline or
// a provider error. payabl does not say whether the reply's transactionid
// is a new refund transaction or the payment's own; when it is missing
// the refund cannot be fetched later, which is garbage.
func (p *Provider) refundFromReply(req *providers.RefundRequest, body []byte) (*providers.Refund, error) {
	r, err := parseFormReply(body)
	if err != nil {
		return nil, err
	}
	if r.Status != codeOK && r.Status != codePending {
		return nil, r.failure()
	}
	if !validTxID(r.TransactionID) {
		return nil, providers.Garbage("payabl refund reply has no numeric transactionid")
	}
	if err := r.checkEcho(req.Amount, req.Currency); err != nil {
		return nil, err
	}
	status := providers.RefundSucceeded
	if r.Status == codePending {
		status = providers.RefundPending
	}
	return &providers.Refund{
		Object:            "refund",
		ProviderReference: r.TransactionID,
		Reference:         req.Reference,
		Amount:            req.Amount,
		Currency:          req.Currency,
		Status:            status,
		ProviderStatus:    strconv.Itoa(r.Status),
		ProviderMessage:   r.Message,
		Test:              p.test,
		CreatedAt:         p.clock().UTC(),
	}, nil
}

// GetRefund implements providers.Refunder via tx_diagnose type=tx. When
// the id payabl gave for the refund turns out to be the payment's own
// transaction (payabl does not document which it returns), the diagnose
// reply describes the payment, not the refund: NotSupported, so the host
// serves its record.
func (p *Provider) GetRefund(ctx context.Context, do providers.Doer, ref string) (*providers.Refund, error) {
	t, err := p.diagnoseTx(ctx, do, ref, "refund")
	if err != nil {
		return nil, err
	}
	// A row that does not say it is a refund (no type, or another kind)
	// is not taken for one: a payment's row would otherwise report the
	// whole payment as a refund.
	if txKind(t.Type) != "refund" {
		return nil, providers.NotSupported("payabl cannot report this refund separately from its payment")
	}
	amount, currency, err := t.amount()
	if err != nil {
		return nil, err
	}
	code, present, err := t.code()
	if err != nil {
		return nil, err
	}
	status := providers.RefundFailed
	switch {
	case !present || code == codePending:
		status = providers.RefundPending
	case code == codeOK:
		status = providers.RefundSucceeded
	}
	return &providers.Refund{
		Object:            "refund",
		ProviderReference: t.TransactionID,
		Amount:            amount,
		Currency:          currency,
		Status:            status,
		ProviderStatus:    t.ErrorCode,
		ProviderMessage:   t.ErrorMessage,
		Test:              p.test,
		CreatedAt:         t.created(),
	}, nil
}
