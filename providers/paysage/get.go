package paysage

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tidwall/gjson"

	"github.com/caddy-payments/caddy-payments/providers"
)

// fetch gets one transaction by uid (GET /beyag/transactions/{uid}); a
// 404, or a uid that cannot be PaySage's, is NotFound (what names the
// object for the message).
func (p *Provider) fetch(ctx context.Context, do providers.Doer, uid, what string) (*transaction, error) {
	if !validUID(uid) {
		return nil, providers.NotFound("no PaySage %s with this id", what)
	}
	reply, err := p.call(ctx, do, http.MethodGet, pathTransaction+uid, nil, "")
	if err != nil {
		return nil, err
	}
	if reply.StatusCode == http.StatusNotFound {
		return nil, providers.NotFound("no PaySage %s with this id", what)
	}
	t, err := transactionReply(reply)
	if err != nil {
		return nil, err
	}
	if t.UID != uid {
		return nil, providers.Garbage("PaySage reply is about another transaction")
	}
	return t, nil
}

// GetPayment implements providers.Provider. A uid that names a refund (or
// anything but a payment) is NotFound as a payment.
func (p *Provider) GetPayment(ctx context.Context, do providers.Doer, ref string) (*providers.Payment, error) {
	t, err := p.fetch(ctx, do, ref, "payment")
	if err != nil {
		return nil, err
	}
	if t.Type != "" && t.Type != "payment" {
		return nil, providers.NotFound("no PaySage payment with this id")
	}
	return p.paymentFromTransaction(t), nil
}

// FindPayment implements providers.Provider via GET
// /beyag/transactions/tracking_id/{tracking_id}, which lists every
// transaction with that tracking_id: refunds and entries of other
// tracking ids (PaySage matches ';'-joined values) are skipped, and of
// several payments the newest (latest created_at; the later one in the
// list on a tie) is the answer.
func (p *Provider) FindPayment(ctx context.Context, do providers.Doer, reference string) (*providers.Payment, error) {
	if err := checkReference("reference", reference, true); err != nil {
		return nil, err
	}
	reply, err := p.call(ctx, do, http.MethodGet, pathByTrackingID+url.PathEscape(reference), nil, "")
	if err != nil {
		return nil, err
	}
	if reply.StatusCode == http.StatusNotFound {
		return nil, providers.NotFound("no PaySage payment with this reference")
	}
	env, err := decodeReply(reply)
	if err != nil {
		return nil, err
	}
	if env.isError(reply.StatusCode) {
		return nil, replyError(reply.StatusCode, env)
	}
	var list []gjson.Result
	switch {
	case present(env.Transactions):
		if !env.transactions.IsArray() {
			return nil, providers.Garbage("PaySage transactions is not a list")
		}
		list = env.transactions.Array()
	case present(env.Transaction):
		list = []gjson.Result{env.transaction}
	default:
		return nil, providers.NotFound("no PaySage payment with this reference")
	}
	var best *transaction
	for _, v := range list {
		t, err := checkedTransaction(v)
		if err != nil {
			return nil, err
		}
		if (t.Type != "" && t.Type != "payment") || t.TrackingID != reference {
			continue
		}
		if best == nil || !t.created().Before(best.created()) {
			best = t
		}
	}
	if best == nil {
		return nil, providers.NotFound("no PaySage payment with this reference")
	}
	return p.paymentFromTransaction(best), nil
}

// returnRefParam is the query parameter the gateway adds to its own
// return URL to name the payment's reference.
const returnRefParam = "reference"

// VerifyReturn implements providers.Returner. Nothing the browser adds to
// the return is believed: beGateway may append uid and status to the
// return URL, and a customer can edit them (another payment's uid would
// otherwise land them on that payment's success page). The payment is the
// one the gateway itself put in its return URL — the reference parameter,
// which the host has already checked against its return token — found
// with one fetch by tracking_id; only that fetch says whether it looks
// successful (anything but failed, cancelled or expired: a Trustly payment
// may still be settling while the customer is already back).
func (p *Provider) VerifyReturn(ctx context.Context, do providers.Doer, r *providers.IncomingNotification) (string, bool, error) {
	if r == nil || len(r.Query[returnRefParam]) != 1 || checkReference(returnRefParam, r.Query.Get(returnRefParam), true) != nil {
		return "", false, unauthenticated("the return URL carries no single valid reference")
	}
	pay, err := p.FindPayment(ctx, do, r.Query.Get(returnRefParam))
	if err != nil {
		return "", false, err
	}
	switch pay.Status {
	case providers.StatusFailed, providers.StatusCancelled, providers.StatusExpired:
		return pay.ProviderReference, false, nil
	}
	return pay.ProviderReference, true, nil
}
