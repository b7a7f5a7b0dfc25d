package razorpay

import (
	"context"
	"net/http"
	"net/url"

	"github.com/caddy-payments/caddy-payments/providers"
)

// paymentStatus maps one Razorpay payment status (reference §4.3).
// "refunded" is a captured payment refunded in full: the money moved, so
// it stays succeeded and AmountRefunded says how much went back.
func paymentStatus(s string) providers.Status {
	switch s {
	case "created":
		return providers.StatusRequiresAction
	case "authorized":
		return providers.StatusAuthorized
	case "captured", "refunded":
		return providers.StatusSucceeded
	case "failed":
		return providers.StatusFailed
	}
	return providers.StatusUnknown
}

// decisive picks the attempt that decides an order's status: a captured
// (or refunded) attempt first, then an authorized one; otherwise the
// newest attempt (created_at, ties to the one Razorpay lists first, as
// its lists are newest first). The newest attempt rather than "created
// beats failed" because the JSON-created attempt never reaches the bank
// and stays created while the customer's redirect attempt may already
// have failed. nil when the order has no attempt.
func decisive(items []payment) *payment {
	var best *payment
	rank := func(q *payment) int {
		switch q.Status {
		case "captured", "refunded":
			return 2
		case "authorized":
			return 1
		}
		return 0
	}
	for i := range items {
		q := &items[i]
		switch {
		case best == nil:
			best = q
		case rank(q) > rank(best):
			best = q
		case rank(q) == rank(best) && q.CreatedAt > best.CreatedAt:
			best = q
		}
	}
	return best
}

// GetPayment implements providers.Provider. ref is the order id: the
// order gives amount, currency, receipt and creation time, and its
// payments give the status (decisive).
func (p *Provider) GetPayment(ctx context.Context, do providers.Doer, ref string) (*providers.Payment, error) {
	if !orderIDRe.MatchString(ref) {
		return nil, providers.NotFound("no Razorpay order %q: provider references of this account are order ids", ref)
	}
	var o order
	if _, err := p.call(ctx, do, request{method: http.MethodGet, path: "/v1/orders/" + ref}, &o); err != nil {
		return nil, err
	}
	if o.ID != ref {
		return nil, providers.Garbage("the order reply is about another order")
	}
	if o.Amount < 0 {
		return nil, providers.Garbage("the order reply has a negative amount")
	}
	var list collection[payment]
	if _, err := p.call(ctx, do, request{method: http.MethodGet, path: "/v1/orders/" + ref + "/payments"}, &list); err != nil {
		return nil, err
	}
	return p.orderPayment(&o, list.Items), nil
}

// orderPayment builds the canonical payment of an order and its attempts.
func (p *Provider) orderPayment(o *order, items []payment) *providers.Payment {
	pay := p.newPayment(o)
	best := decisive(items)
	switch {
	case best != nil:
		pay.Status = paymentStatus(best.Status)
		pay.ProviderStatus = best.Status
		if best.Status == "failed" {
			pay.ProviderMessage = best.ErrorDescription
		}
		if pay.Status == providers.StatusSucceeded {
			pay.AmountRefunded = min(max(best.AmountRefunded, 0), pay.Amount)
		}
	case o.Status == "paid":
		pay.Status, pay.ProviderStatus = providers.StatusSucceeded, "order:paid"
	default:
		pay.Status, pay.ProviderStatus = providers.StatusRequiresAction, "order:"+o.Status
	}
	if pay.Status == providers.StatusRequiresAction {
		pay.NextAction = &providers.NextAction{Type: "poll"}
	}
	return pay
}

// FindPayment implements providers.Provider: GET /v1/orders?receipt=
// (receipts are the merchant references), newest order first. Razorpay's
// receipt filter may lag a few seconds behind order creation (observed by
// a third party), so a lookup right after a timeout can miss.
func (p *Provider) FindPayment(ctx context.Context, do providers.Doer, reference string) (*providers.Payment, error) {
	if reference == "" || len(reference) > maxReceipt || !isASCII(reference) {
		return nil, providers.NotFound("no Razorpay order with this reference (receipts are at most %d ASCII characters)", maxReceipt)
	}
	var list collection[order]
	q := url.Values{"receipt": {reference}}
	if _, err := p.call(ctx, do, request{method: http.MethodGet, path: "/v1/orders", query: q}, &list); err != nil {
		return nil, err
	}
	var newest *order
	for i := range list.Items {
		o := &list.Items[i]
		if o.Receipt != reference || !orderIDRe.MatchString(o.ID) {
			continue
		}
		if newest == nil || o.CreatedAt > newest.CreatedAt {
			newest = o
		}
	}
	if newest == nil {
		return nil, providers.NotFound("no Razorpay order with receipt %q", reference)
	}
	return p.GetPayment(ctx, do, newest.ID)
}
