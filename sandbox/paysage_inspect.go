package sandbox

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// The inspection endpoints are the sandbox's own, not PaySage's:
//
//	GET  <prefix>/paysage/_sandbox/payments               every transaction, oldest first
//	POST <prefix>/paysage/_sandbox/payments/<uid>/approve  same as the Approve button
//	POST <prefix>/paysage/_sandbox/payments/<uid>/decline  same as the Decline button
//	POST <prefix>/paysage/_sandbox/payments/<uid>/expire   as if expired_at had passed
//	POST <prefix>/paysage/_sandbox/payments/<uid>/notify   re-send the webhook of the current state

// paysageNotice is included in every inspection reply so nobody mistakes
// it for a provider API.
const paysageNotice = "payments sandbox only: test objects, no real money; not part of the PaySage API"

// paysageView is the JSON shape of one transaction in the listing.
type paysageView struct {
	UID             string       `json:"uid"`
	Type            string       `json:"type"`
	Status          string       `json:"status"`
	Message         string       `json:"message"`
	TrackingID      string       `json:"tracking_id,omitempty"`
	Amount          int64        `json:"amount"`
	Currency        string       `json:"currency"`
	Refunded        int64        `json:"refunded,omitempty"`
	ParentUID       string       `json:"parent_uid,omitempty"`
	Reason          string       `json:"reason,omitempty"`
	Created         time.Time    `json:"created"`
	CheckoutPath    string       `json:"checkout_path,omitempty"`
	ReturnURL       string       `json:"return_url,omitempty"`
	NotificationURL string       `json:"notification_url,omitempty"`
	Test            bool         `json:"test"`
	Webhooks        []psDelivery `json:"webhooks"`
	// Transaction is what the API answers for this uid right now.
	Transaction any `json:"transaction"`
}

// view copies t for JSON. Caller holds p.mu.
func (p *paysage) view(t *psTxn) paysageView {
	v := paysageView{
		UID: t.UID, Type: t.Type, Status: t.Status, Message: t.Message, TrackingID: t.TrackingID,
		Amount: t.Amount, Currency: t.Currency, Refunded: t.Refunded, ParentUID: t.ParentUID, Reason: t.Reason,
		Created: t.Created, ReturnURL: t.ReturnURL, NotificationURL: t.NotificationURL, Test: true,
		Webhooks:    append([]psDelivery{}, t.Webhooks...),
		Transaction: p.wire(t),
	}
	if t.Token != "" {
		v.CheckoutPath = p.env.prefix + "/paysage/checkout/" + t.Token
	}
	return v
}

// inspect serves the sandbox-only endpoints; sub follows "/_sandbox/payments".
func (p *paysage) inspect(w http.ResponseWriter, r *http.Request, sub string) error {
	fail := func(status int, err error) error {
		return writeJSON(w, status, map[string]any{"error": err.Error(), "sandbox": paysageNotice})
	}
	if sub == "" || sub == "/" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return fail(http.StatusMethodNotAllowed, errors.New("use GET"))
		}
		p.mu.Lock()
		list := make([]paysageView, 0, len(p.ordered))
		for _, t := range p.ordered {
			list = append(list, p.view(t))
		}
		p.mu.Unlock()
		return writeJSON(w, http.StatusOK, map[string]any{"sandbox": paysageNotice, "public_key": p.publicKey, "payments": list})
	}

	uid, action, ok := strings.Cut(strings.TrimPrefix(sub, "/"), "/")
	if !ok || (action != "approve" && action != "decline" && action != "expire" && action != "notify") {
		return fail(http.StatusNotFound, errors.New("not found"))
	}
	if r.Method != http.MethodPost {
		return fail(http.StatusMethodNotAllowed, errors.New("use POST"))
	}
	var err error
	switch action {
	case "approve":
		_, err = p.decide(uid, psSuccessful)
	case "decline":
		_, err = p.decide(uid, psFailed)
	case "expire":
		_, err = p.decide(uid, psExpired)
	case "notify":
		err = p.renotify(uid)
	}
	switch {
	case errors.Is(err, errUnknownPayment):
		return fail(http.StatusNotFound, err)
	case errors.Is(err, errNotPending):
		return fail(http.StatusConflict, err)
	case err != nil:
		return fail(http.StatusServiceUnavailable, err)
	}
	p.mu.Lock()
	v := p.view(p.txns[uid])
	p.mu.Unlock()
	return writeJSON(w, http.StatusOK, map[string]any{"sandbox": paysageNotice, "payment": v})
}

// renotify sends the webhook of a payment's current state once more, as
// beGateway's back office "renotify" does.
func (p *paysage) renotify(uid string) error {
	p.mu.Lock()
	t := p.txns[uid]
	if t == nil || t.Type != psTypePayment {
		p.mu.Unlock()
		return errUnknownPayment
	}
	n, err := p.noticeLocked(t)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if !p.env.goAsync(func(ctx context.Context) { p.send(ctx, t, n) }) {
		return errStopped
	}
	return nil
}
