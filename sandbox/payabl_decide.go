package sandbox

import (
	"context"
	"errors"
)

// Outcomes of Approve / Decline that are not a state change.
var (
	errUnknownPayment = errors.New("unknown payment")
	errNotPending     = errors.New("payment is not pending: it was already approved or declined")
	errStopped        = errors.New("sandbox is shutting down")
)

// approve is the customer finishing the Trustly payment: notification
// not_credited_yet now, credited after notify_delay. The diagnose
// error_code stays 2000 until the credited notification, then becomes 0.
func (p *payabl) approve(id string) (*payablTxn, error) {
	p.mu.Lock()
	t, err := p.pendingLocked(id)
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	t.PaymentState = stateNotCreditedYet
	t.Code = p.acceptedCode // what tx_diagnose reports until credited
	first := noticeFor(t, kindCapture)
	first.errorcode = "0"
	first.errormessage = ""
	p.mu.Unlock()

	started := p.env.goAsync(func(ctx context.Context) {
		p.sendLatest(ctx, t, first)
		if !p.env.sleep(ctx, p.env.notifyDelay) {
			return
		}
		p.mu.Lock()
		t.Code, t.Message, t.PaymentState = 0, "", stateCredited
		second := noticeFor(t, kindCapture)
		chargeback := t.Amount == payablMagicChargeback
		p.mu.Unlock()
		p.sendLatest(ctx, t, second)
		if chargeback {
			p.chargeback(ctx, t)
		}
	})
	if !started {
		return nil, errStopped
	}
	return t, nil
}

// decline is the customer aborting at the bank: one notification with
// errorcode -5003 and payment_state not_credited.
func (p *payabl) decline(id string) (*payablTxn, error) {
	p.mu.Lock()
	t, err := p.pendingLocked(id)
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	t.Code, t.Message, t.PaymentState = -5003, "Payment aborted by customer", stateNotCredited
	n := noticeFor(t, kindCapture)
	p.mu.Unlock()

	if !p.env.goAsync(func(ctx context.Context) { p.sendLatest(ctx, t, n) }) {
		return nil, errStopped
	}
	return t, nil
}

// pendingLocked finds a payment still waiting for the customer.
// Caller holds p.mu.
func (p *payabl) pendingLocked(id string) (*payablTxn, error) {
	if p.env.isStopped() {
		return nil, errStopped
	}
	t := p.txns[id]
	if t == nil || t.Kind != kindCapture {
		return nil, errUnknownPayment
	}
	if t.Code != 2000 || t.PaymentState != "" {
		return nil, errNotPending
	}
	return t, nil
}
