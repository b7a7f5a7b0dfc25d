package sandbox

import (
	"net/http"
)

// preauthorize emulates POST /pay/backoffice/payment_preauthorize for
// Trustly: verify, validate, apply magic amounts, create a pending payment
// and answer status=2000 with the checkout page as redirect_url.
func (p *payabl) preauthorize(w http.ResponseWriter, r *http.Request) error {
	f, ok, err := p.readSigned(w, r, func(e *payablErr) error { return writePayablError(w, e) })
	if !ok {
		return err
	}
	minor, e := checkPreauthFields(f)
	if e != nil {
		return writePayablError(w, e)
	}

	switch minor {
	case payablMagicGarbage:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte("<html>oops"))
		return err
	case payablMagicDecline:
		t := p.newPayment(f, minor)
		t.Code, t.Message = -5002, "Payment failed"
		p.mu.Lock()
		p.insertLocked(t)
		p.mu.Unlock()
		return writePayablForm(w, []kv{
			{"status", "-5002"},
			{"errormessage", "Payment failed"},
			{"errmsg", "Payment failed"},
			{"amount", formatPayablAmount(minor)},
			{"price", formatPayablAmount(minor)},
			{"currency", t.Currency},
			{"orderid", t.OrderID},
		})
	}

	t := p.newPayment(f, minor)
	t.Code, t.Message = 2000, "pending"
	t.Token = randomHex(20)
	t.FormToken = randomHex(16)
	t.UserID = randomDigits(6)
	t.Duplicate = minor == payablMagicDuplicate
	p.mu.Lock()
	p.insertLocked(t)
	p.mu.Unlock()

	if minor == payablMagicSlow {
		// The payment exists already: a client that gave up can find it
		// with tx_diagnose type=orderid, as payabl.'s docs advise.
		if !p.env.sleep(r.Context(), p.env.slowDelay) {
			return nil
		}
	}

	amount := formatPayablAmount(minor)
	return writePayablForm(w, []kv{
		{"transactionid", t.ID},
		{"transid", t.ID},
		{"status", "2000"},
		{"errormessage", "pending"},
		{"errmsg", "pending"},
		{"amount", amount},
		{"price", amount},
		{"currency", t.Currency},
		{"orderid", t.OrderID},
		{"payment_method", "116"},
		{"redirect_url", p.checkoutURL(r, t)},
		{"user_id", t.UserID},
	})
}

// newPayment builds a deposit from a validated request.
func (p *payabl) newPayment(f payablForm, minor int64) *payablTxn {
	return &payablTxn{
		Kind:            kindCapture,
		MerchantID:      f["merchantid"],
		OrderID:         f["orderid"],
		Custom1:         f["custom1"],
		Amount:          minor,
		Currency:        f["currency"],
		NotificationURL: f["notification_url"],
		URLSuccess:      f["url_success"],
		URLFailed:       f["url_failed"],
		URLReturn:       f["url_return"],
	}
}
