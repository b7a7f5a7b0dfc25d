package sandbox

import (
	"net/http"
	"strconv"
	"time"
)

// psMsgNotRefundable is beGateway's refusal of a refund that is not
// allowed at all (reference §4.3, §6).
const psMsgNotRefundable = "transaction can't be refunded"

// createRefund emulates POST /beyag/transactions/refunds. Only a
// successful payment can be refunded, in its currency; several partial
// refunds are allowed as long as their sum stays within the payment's
// amount (PaySage's Trustly page). An omitted amount refunds what is left.
// The refund is final at once (status successful); it sends no webhook.
func (p *paysage) createRefund(w http.ResponseWriter, r *http.Request) error {
	rid := requestID(r)
	p.mu.Lock()
	prev := p.replayLocked("refunds", rid, time.Now())
	p.mu.Unlock()
	if prev != nil {
		return p.replyTxn(w, prev)
	}

	m, errs, bad := readEnvelope(w, r)
	if bad != nil {
		return bad.write(w)
	}
	q := checkRefundRequest(m, errs)
	if len(errs) > 0 {
		return writePaysageError(w, http.StatusUnprocessableEntity, psUnprocessable, errs)
	}

	now := time.Now()
	p.mu.Lock()
	if prev := p.replayLocked("refunds", rid, now); prev != nil {
		p.mu.Unlock()
		return p.replyTxn(w, prev)
	}
	parent := p.txns[q.ParentUID]
	var remaining int64
	if parent != nil {
		remaining = parent.Amount - parent.Refunded
	}
	amount := q.Amount
	if amount == 0 {
		amount = remaining
	}
	switch {
	case parent == nil:
		p.mu.Unlock()
		errs.add("is invalid", "request", "parent_uid")
		return writePaysageError(w, http.StatusUnprocessableEntity, psUnprocessable, errs)
	case parent.Type != psTypePayment || parent.Status != psSuccessful || remaining == 0:
		p.mu.Unlock()
		return writePaysageError(w, http.StatusUnprocessableEntity, psMsgNotRefundable, psErrs{"base": []string{psMsgNotRefundable}})
	case amount > remaining:
		p.mu.Unlock()
		errs.add("must be less than or equal to "+strconv.FormatInt(remaining, 10), "request", "amount")
		return writePaysageError(w, http.StatusUnprocessableEntity, psUnprocessable, errs)
	}
	parent.Refunded += amount
	rf := &psTxn{
		Type:        psTypeRefund,
		Status:      psSuccessful,
		Message:     psMsgSuccessful,
		Amount:      amount,
		Currency:    parent.Currency,
		TrackingID:  q.TrackingID,
		Language:    parent.Language,
		RefID:       randomHex(10),
		Base:        parent.Base,
		ReceiptHash: randomHex(32),
		ParentUID:   parent.UID,
		Reason:      q.Reason,
	}
	p.insertLocked(rf)
	p.rememberLocked("refunds", rid, rf, now)
	p.mu.Unlock()
	return p.replyTxn(w, rf)
}
