package sandbox

import (
	"context"
	"net/http"
	"regexp"
)

// transactionIDRE is payabl.'s transactionid format: numeric, max 50 digits.
var transactionIDRE = regexp.MustCompile(`^[0-9]{1,50}$`)

// refund emulates POST /pay/backoffice/payment_refund: only a credited
// Trustly deposit can be refunded, in its currency, and the refunds of one
// payment never add up to more than its amount. Success answers status=0
// with the refund's own transactionid and sends a type=refund notification
// to the deposit's notification_url.
func (p *payabl) refund(w http.ResponseWriter, r *http.Request) error {
	f, ok, err := p.readSigned(w, r, func(e *payablErr) error { return writePayablError(w, e) })
	if !ok {
		return err
	}
	minor, e := checkAmountCurrency(f)
	if e != nil {
		return writePayablError(w, e)
	}
	if !transactionIDRE.MatchString(f["transactionid"]) {
		return writePayablError(w, errMissingFields("transactionid (numeric, max 50 digits)"))
	}

	p.mu.Lock()
	orig := p.txns[f["transactionid"]]
	switch {
	case orig == nil || orig.Kind != kindCapture:
		e = perr(-5007, "Refund aborted: unknown transactionid")
	case orig.PaymentState != stateCredited:
		e = perr(-5007, "Refund aborted: only a credited (successfully captured) transaction can be refunded")
	case orig.Currency != f["currency"]:
		e = perr(-6103, "Wrong currency")
	case orig.Refunded+minor > orig.Amount:
		e = perr(-5007, "Refund aborted: amount exceeds the remaining refundable amount "+formatPayablAmount(orig.Amount-orig.Refunded))
	}
	if e != nil {
		p.mu.Unlock()
		return writePayablError(w, e)
	}
	orig.Refunded += minor
	rf := &payablTxn{
		Kind:            kindRefund,
		MerchantID:      orig.MerchantID,
		OrderID:         orig.OrderID,
		Custom1:         orig.Custom1,
		Amount:          minor,
		Currency:        orig.Currency,
		ParentID:        orig.ID,
		NotificationURL: orig.NotificationURL,
		Duplicate:       orig.Duplicate,
	}
	p.insertLocked(rf)
	n := noticeFor(rf, kindRefund)
	p.mu.Unlock()

	amount := formatPayablAmount(minor)
	err = writePayablForm(w, []kv{
		{"status", "0"},
		{"errormessage", ""},
		{"errmsg", ""},
		{"transactionid", rf.ID},
		{"transid", rf.ID},
		{"amount", amount},
		{"price", amount},
		{"currency", rf.Currency},
		{"orderid", rf.OrderID},
	})
	// Answer first, so the caller knows the refund's id before its
	// notification can arrive.
	flush(w)
	p.env.goAsync(func(ctx context.Context) { p.sendLatest(ctx, rf, n) })
	return err
}
