package sandbox

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// checkout serves form.action: GET shows the payment with Approve and
// Decline buttons; POST applies the button and sends the browser to the
// payment's return_url (303), with uid and status appended to the query
// as beGateway's checkout does on return.
func (p *paysage) checkout(w http.ResponseWriter, r *http.Request, token string) error {
	p.mu.Lock()
	t := p.byToken[token]
	var page checkoutPage
	var uid, formToken string
	if t != nil {
		uid, formToken = t.UID, t.FormToken
		page = p.pageLocked(t)
		page.Action = r.URL.EscapedPath()
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
	var status string
	switch r.PostForm.Get("action") {
	case "approve":
		status = psSuccessful
	case "decline":
		status = psFailed
	default:
		http.Error(w, "payments sandbox: action must be approve or decline", http.StatusBadRequest)
		return nil
	}
	_, err := p.decide(uid, status)
	switch {
	case errors.Is(err, errNotPending):
		p.mu.Lock()
		page.Done = "This payment was already decided: it is " + t.Status + ". You can close this window."
		p.mu.Unlock()
		return renderCheckout(w, http.StatusConflict, page)
	case err != nil:
		http.Error(w, "payments sandbox: "+err.Error(), http.StatusServiceUnavailable)
		return nil
	}
	p.mu.Lock()
	target := withReturnQuery(t.ReturnURL, t.UID, t.Status)
	p.mu.Unlock()
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// withReturnQuery appends uid and status to the shop's return_url,
// keeping its own query as it is.
func withReturnQuery(returnURL, uid, status string) string {
	base, frag, hasFrag := strings.Cut(returnURL, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	out := base + sep + "uid=" + url.QueryEscape(uid) + "&status=" + url.QueryEscape(status)
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// receipt serves receipt_url (/customer/transactions/{uid}/{hash}): a
// read-only page with the transaction's state.
func (p *paysage) receipt(w http.ResponseWriter, r *http.Request, sub string) error {
	uid, hash, _ := strings.Cut(sub, "/")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil
	}
	p.mu.Lock()
	t := p.txns[uid]
	ok := t != nil && subtle.ConstantTimeCompare([]byte(hash), []byte(t.ReceiptHash)) == 1
	var page checkoutPage
	if ok {
		page = p.pageLocked(t)
		if page.Done == "" {
			page.Done = "Pending: the customer has not finished the payment yet."
		}
	}
	p.mu.Unlock()
	if !ok {
		http.Error(w, "payments sandbox: unknown receipt", http.StatusNotFound)
		return nil
	}
	return renderCheckout(w, http.StatusOK, page)
}

// pageLocked fills the shared checkout page for t; Done is empty while
// the payment is pending. Caller holds p.mu.
func (p *paysage) pageLocked(t *psTxn) checkoutPage {
	page := checkoutPage{
		Provider:  "PaySage",
		Method:    "Trustly",
		Merchant:  "shop " + p.shopID,
		OrderID:   t.TrackingID,
		Amount:    formatPayablAmount(t.Amount),
		Currency:  t.Currency,
		FormToken: t.FormToken,
	}
	switch t.Status {
	case psPending:
	case psSuccessful:
		page.Done = "Approved (successful). The shop is being notified; you can close this window."
	default:
		page.Done = "Not paid (" + t.Status + ": " + t.Message + "). You can close this window."
	}
	return page
}
