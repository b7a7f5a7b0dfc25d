package fake

import (
	"github.com/caddy-payments/caddy-payments/providers"
)

// paymentStatus maps a wire status to the canonical one; anything the fake
// does not define is unknown rather than guessed.
func paymentStatus(s string) providers.Status {
	switch s {
	case wirePending:
		return providers.StatusRequiresAction
	case wireProcessing:
		return providers.StatusProcessing
	case wireSucceeded:
		return providers.StatusSucceeded
	case wireFailed:
		return providers.StatusFailed
	}
	return providers.StatusUnknown
}

// toPayment converts a decoded wire payment; a reply without an id or
// amount is garbage (the outcome of a create is then unknown).
func toPayment(w *wirePayment) (*providers.Payment, error) {
	if w.ID == "" || w.Amount <= 0 || w.Currency == "" {
		return nil, providers.Garbage("the payment in the reply is incomplete")
	}
	p := &providers.Payment{
		Object:            "payment",
		ProviderReference: w.ID,
		Reference:         w.Reference,
		Amount:            w.Amount,
		Currency:          w.Currency,
		Status:            paymentStatus(w.Status),
		AmountRefunded:    w.Refunded,
		ProviderStatus:    w.Status,
		Test:              true,
		CreatedAt:         w.CreatedAt,
	}
	if p.Status == providers.StatusRequiresAction {
		if w.CheckoutURL == "" {
			return nil, providers.Garbage("a pending payment without a checkout_url")
		}
		p.NextAction = &providers.NextAction{Type: "redirect", URL: w.CheckoutURL, Method: "GET"}
	}
	return p, nil
}

func toRefund(w *wireRefund) (*providers.Refund, error) {
	if w.ID == "" || w.Amount <= 0 {
		return nil, providers.Garbage("the refund in the reply is incomplete")
	}
	status := w.Status
	switch status {
	case providers.RefundPending, providers.RefundSucceeded, providers.RefundFailed:
	default:
		status = providers.RefundPending // unknown wire status: not final, so not trusted
	}
	return &providers.Refund{
		Object: "refund", ProviderReference: w.ID, Reference: w.Reference,
		Amount: w.Amount, Currency: w.Currency, Status: status, ProviderStatus: w.Status,
		Test: true, CreatedAt: w.CreatedAt,
	}, nil
}

func toPayout(w *wirePayout) (*providers.Payout, error) {
	if w.ID == "" || w.Amount <= 0 {
		return nil, providers.Garbage("the payout in the reply is incomplete")
	}
	status := w.Status
	switch status {
	case providers.PayoutPending, providers.PayoutProcessing, providers.PayoutSucceeded,
		providers.PayoutFailed, providers.PayoutReversed:
	default:
		status = providers.PayoutPending
	}
	return &providers.Payout{
		Object: "payout", ProviderReference: w.ID, Reference: w.Reference,
		Amount: w.Amount, Currency: w.Currency, Status: status, ProviderStatus: w.Status,
		Test: true, CreatedAt: w.CreatedAt,
	}, nil
}
