package sandbox

import (
	"crypto/subtle"
	"errors"
	"net/http"
)

// checkout serves the page behind redirect_url: GET shows the payment with
// Approve and Decline buttons; POST applies the button and sends the
// browser back to the shop (303) like the bank would.
func (p *payabl) checkout(w http.ResponseWriter, r *http.Request, token string) error {
	p.mu.Lock()
	t := p.byToken[token]
	var page checkoutPage
	var id, formToken string
	if t != nil {
		id, formToken = t.ID, t.FormToken
		page = checkoutPage{
			Provider:  "payabl.",
			Method:    "Trustly",
			Merchant:  t.MerchantID,
			OrderID:   t.OrderID,
			Amount:    formatPayablAmount(t.Amount),
			Currency:  t.Currency,
			Action:    r.URL.EscapedPath(),
			FormToken: t.FormToken,
			Done:      doneText(t),
		}
	}
	p.mu.Unlock()
	if t == nil {
		http.Error(w, "payments sandbox: unknown or expired payment link", http.StatusNotFound)
		return nil
	}

	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return renderCheckout(w, http.StatusOK, page)
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil
	}

	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "payments sandbox: malformed form", http.StatusBadRequest)
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), []byte(formToken)) != 1 {
		http.Error(w, "payments sandbox: form token mismatch; reload the checkout page", http.StatusForbidden)
		return nil
	}
	var err error
	switch r.PostForm.Get("action") {
	case "approve":
		t, err = p.approve(id)
	case "decline":
		t, err = p.decline(id)
	default:
		http.Error(w, "payments sandbox: action must be approve or decline", http.StatusBadRequest)
		return nil
	}
	switch {
	case errors.Is(err, errNotPending):
		page.Done = "This payment was already decided."
		return renderCheckout(w, http.StatusConflict, page)
	case err != nil:
		http.Error(w, "payments sandbox: "+err.Error(), http.StatusServiceUnavailable)
		return nil
	}

	p.mu.Lock()
	target := returnURL(t)
	page.Done = doneText(t)
	p.mu.Unlock()
	if target == "" {
		return renderCheckout(w, http.StatusOK, page)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// returnURL is where the browser goes after the decision: url_success or
// url_failed, falling back to url_return. Caller holds p.mu.
func returnURL(t *payablTxn) string {
	if t.Code == 0 || t.PaymentState == stateNotCreditedYet || t.PaymentState == stateCredited {
		if t.URLSuccess != "" {
			return t.URLSuccess
		}
		return t.URLReturn
	}
	if t.URLFailed != "" {
		return t.URLFailed
	}
	return t.URLReturn
}

// doneText describes a decided payment, or "" while it is pending.
// Caller holds p.mu.
func doneText(t *payablTxn) string {
	switch {
	case t.Code == 2000 && t.PaymentState == "":
		return ""
	case t.PaymentState == stateNotCreditedYet || t.PaymentState == stateCredited:
		return "Approved. The shop is being notified; you can close this window."
	default:
		return "Declined (" + t.Message + "). You can close this window."
	}
}
