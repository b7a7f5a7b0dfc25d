package sandbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// The inspection endpoints are the sandbox's own, not payabl.'s: a real
// payabl. account has nothing like them.
//
//	GET  <prefix>/payabl/_sandbox/payments                          every transaction, oldest first
//	POST <prefix>/payabl/_sandbox/payments/<transactionid>/approve  same as the Approve button
//	POST <prefix>/payabl/_sandbox/payments/<transactionid>/decline  same as the Decline button

// sandboxNotice is included in every inspection reply so nobody mistakes it
// for a provider API.
const sandboxNotice = "payments sandbox only: test objects, no real money; not part of the payabl. API"

// payablView is the JSON shape of one transaction.
type payablView struct {
	TransactionID string           `json:"transactionid"`
	Type          string           `json:"type"`
	OrderID       string           `json:"orderid"`
	Amount        string           `json:"amount"`
	AmountMinor   int64            `json:"amount_minor"`
	Currency      string           `json:"currency"`
	Status        int              `json:"status"`
	Message       string           `json:"errormessage,omitempty"`
	PaymentState  string           `json:"payment_state,omitempty"`
	Refunded      int64            `json:"refunded_minor,omitempty"`
	Parent        string           `json:"parent_transactionid,omitempty"`
	Created       time.Time        `json:"created"`
	CheckoutPath  string           `json:"checkout_path,omitempty"`
	Test          bool             `json:"test"`
	Notifications []payablDelivery `json:"notifications"`
}

// view copies t for JSON. Caller holds p.mu.
func (p *payabl) view(t *payablTxn) payablView {
	v := payablView{
		TransactionID: t.ID,
		Type:          t.Kind,
		OrderID:       t.OrderID,
		Amount:        formatPayablAmount(t.Amount),
		AmountMinor:   t.Amount,
		Currency:      t.Currency,
		Status:        t.Code,
		Message:       t.Message,
		PaymentState:  t.PaymentState,
		Refunded:      t.Refunded,
		Parent:        t.ParentID,
		Created:       t.Created,
		Test:          true,
		Notifications: append([]payablDelivery{}, t.Notifications...),
	}
	if t.Token != "" {
		v.CheckoutPath = p.env.prefix + "/payabl/pay/" + t.Token + "/payment/redirect_to_bank"
	}
	return v
}

// inspect serves the sandbox-only endpoints; sub follows "/_sandbox/payments".
func (p *payabl) inspect(w http.ResponseWriter, r *http.Request, sub string) error {
	if sub == "" || sub == "/" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "use GET", "sandbox": sandboxNotice})
		}
		p.mu.Lock()
		list := make([]payablView, 0, len(p.ordered))
		for _, t := range p.ordered {
			list = append(list, p.view(t))
		}
		p.mu.Unlock()
		return writeJSON(w, http.StatusOK, map[string]any{"sandbox": sandboxNotice, "payments": list})
	}

	id, action, ok := strings.Cut(strings.TrimPrefix(sub, "/"), "/")
	if !ok || (action != "approve" && action != "decline") {
		return writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found", "sandbox": sandboxNotice})
	}
	if r.Method != http.MethodPost {
		return writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "use POST", "sandbox": sandboxNotice})
	}
	var err error
	if action == "approve" {
		_, err = p.approve(id)
	} else {
		_, err = p.decline(id)
	}
	switch {
	case errors.Is(err, errUnknownPayment):
		return writeJSON(w, http.StatusNotFound, map[string]any{"error": err.Error(), "sandbox": sandboxNotice})
	case errors.Is(err, errNotPending):
		return writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "sandbox": sandboxNotice})
	case err != nil:
		return writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "sandbox": sandboxNotice})
	}
	p.mu.Lock()
	v := p.view(p.txns[id])
	p.mu.Unlock()
	return writeJSON(w, http.StatusOK, map[string]any{"sandbox": sandboxNotice, "payment": v})
}

// writeJSON sends v as indented JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
