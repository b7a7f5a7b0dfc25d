package sandbox

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// The inspection endpoints are the sandbox's own, not Razorpay's:
//
//	GET  <prefix>/razorpay/_sandbox/payments                  every order and payment, with webhook deliveries
//	POST <prefix>/razorpay/_sandbox/payments/<pay_id>/approve  same as the Approve button
//	POST <prefix>/razorpay/_sandbox/payments/<pay_id>/decline  same as the Decline button
//
// approve and decline answer the callback form the browser would post
// ("callback": url, method, enctype, fields), so a scripted test can
// replay it against the gateway.

// rzpNotice marks every inspection reply.
const rzpNotice = "payments sandbox only: test objects, no real money; not part of the Razorpay API"

// rzpView is the inspection form of one payment.
type rzpView struct {
	Payment     rzpPaymentEntity  `json:"payment"`
	CreatedVia  string            `json:"created_via"`
	Created     time.Time         `json:"created"`
	CheckoutURL string            `json:"checkout_url"`
	CallbackURL string            `json:"callback_url,omitempty"`
	Refunds     []rzpRefundEntity `json:"refunds"`
	Webhooks    []rzpDelivery     `json:"webhooks"`
	Test        bool              `json:"test"`
}

// view copies p for JSON. Caller holds rz.mu.
func (rz *razorpay) view(r *http.Request, p *rzpPayment) rzpView {
	v := rzpView{
		Payment:     p.entity(),
		CreatedVia:  p.Via,
		Created:     p.Created,
		CheckoutURL: rz.checkoutURL(r, p),
		CallbackURL: p.CallbackURL,
		Refunds:     []rzpRefundEntity{},
		Webhooks:    append([]rzpDelivery{}, p.Webhooks...),
		Test:        true,
	}
	for _, f := range p.Refunds {
		v.Refunds = append(v.Refunds, f.entity())
	}
	return v
}

// inspect serves the sandbox-only endpoints; sub follows "/_sandbox/payments".
func (rz *razorpay) inspect(w http.ResponseWriter, r *http.Request, sub string) error {
	if sub == "" || sub == "/" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "use GET", "sandbox": rzpNotice})
		}
		rz.mu.Lock()
		orders := make([]rzpOrderEntity, 0, len(rz.orderList))
		for _, o := range rz.orderList {
			orders = append(orders, o.entity())
		}
		list := make([]rzpView, 0, len(rz.payList))
		for _, p := range rz.payList {
			list = append(list, rz.view(r, p))
		}
		rz.mu.Unlock()
		return writeJSON(w, http.StatusOK, map[string]any{
			"sandbox":     rzpNotice,
			"account_id":  razorpayAccountID,
			"webhook_url": rz.webhookURL,
			"orders":      orders,
			"payments":    list,
		})
	}

	id, action, ok := strings.Cut(strings.TrimPrefix(sub, "/"), "/")
	if !ok || (action != "approve" && action != "decline") {
		return writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found", "sandbox": rzpNotice})
	}
	if r.Method != http.MethodPost {
		return writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "use POST", "sandbox": rzpNotice})
	}
	var cb rzpCallback
	var err error
	if action == "approve" {
		_, cb, err = rz.approve(id)
	} else {
		_, cb, err = rz.decline(id)
	}
	switch {
	case errors.Is(err, errUnknownPayment):
		return writeJSON(w, http.StatusNotFound, map[string]any{"error": err.Error(), "sandbox": rzpNotice})
	case errors.Is(err, errNotPending), errors.Is(err, errRzpOrderSettled):
		return writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "sandbox": rzpNotice})
	case err != nil:
		return writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "sandbox": rzpNotice})
	}
	rz.mu.Lock()
	v := rz.view(r, rz.payments[id])
	rz.mu.Unlock()
	return writeJSON(w, http.StatusOK, map[string]any{"sandbox": rzpNotice, "payment": v, "callback": cb.json()})
}
