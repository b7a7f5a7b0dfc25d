package sandbox

import (
	"context"
	"errors"
)

// errRzpOrderSettled refuses to decide a second attempt of an order that
// already has an authorized or captured payment.
var errRzpOrderSettled = errors.New("the order already has an authorized or captured payment")

// approve is the customer authorizing the Trustly payment: authorized
// [payment.authorized], then (automatic capture) captured
// [payment.captured] and the order paid [order.paid]. Magic 1515 fails
// first [payment.failed] and authorizes late. It returns the form the
// browser posts to callback_url.
func (rz *razorpay) approve(id string) (*rzpPayment, rzpCallback, error) {
	rz.mu.Lock()
	p, err := rz.pendingLocked(id)
	if err == nil && rzpOrderSettled(p.Order, p) {
		err = errRzpOrderSettled
	}
	if err != nil {
		rz.mu.Unlock()
		return nil, rzpCallback{}, err
	}

	if p.LateAuth {
		// The bank answers late: Razorpay marks the payment failed and the
		// customer returns with an error; the authorization follows.
		p.Status, p.Failure = rzpPayFailed, &rzpBankFailed
		first := []rzpEvent{rz.eventLocked("payment.failed", p, nil)}
		cb := rz.callbackLocked(p)
		rz.mu.Unlock()
		rz.env.goAsync(func(ctx context.Context) {
			rz.deliver(ctx, first)
			if !rz.env.sleep(ctx, rz.env.notifyDelay) {
				return
			}
			rz.mu.Lock()
			var late []rzpEvent
			if p.Status == rzpPayFailed && !rzpOrderSettled(p.Order, p) {
				late = rz.authorizeLocked(p)
				if !p.Order.ManualCapture {
					late = append(late, rz.captureLocked(p)...)
				}
			}
			rz.mu.Unlock()
			rz.deliver(ctx, late)
		})
		return p, cb, nil
	}

	events := rz.authorizeLocked(p)
	auto := !p.Order.ManualCapture
	if auto && rz.env.notifyDelay == 0 {
		events = append(events, rz.captureLocked(p)...)
	}
	cb := rz.callbackLocked(p)
	rz.mu.Unlock()
	rz.env.goAsync(func(ctx context.Context) {
		rz.deliver(ctx, events)
		if !auto || rz.env.notifyDelay == 0 || !rz.env.sleep(ctx, rz.env.notifyDelay) {
			return
		}
		rz.mu.Lock()
		var more []rzpEvent
		if p.Status == rzpPayAuthorized {
			more = rz.captureLocked(p)
		}
		rz.mu.Unlock()
		rz.deliver(ctx, more)
	})
	return p, cb, nil
}

// decline is the customer cancelling at Trustly: failed with the
// cancellation error of reference §4.2 [payment.failed].
func (rz *razorpay) decline(id string) (*rzpPayment, rzpCallback, error) {
	rz.mu.Lock()
	p, err := rz.pendingLocked(id)
	if err != nil {
		rz.mu.Unlock()
		return nil, rzpCallback{}, err
	}
	p.Status, p.Failure = rzpPayFailed, &rzpCancelled
	events := []rzpEvent{rz.eventLocked("payment.failed", p, nil)}
	cb := rz.callbackLocked(p)
	rz.mu.Unlock()
	rz.sendAsync(events)
	return p, cb, nil
}

// pendingLocked finds a payment still waiting for the customer. It checks
// for shutdown first, so no state changes without its webhooks.
// Caller holds rz.mu.
func (rz *razorpay) pendingLocked(id string) (*rzpPayment, error) {
	if rz.env.isStopped() {
		return nil, errStopped
	}
	p := rz.payments[id]
	if p == nil {
		return nil, errUnknownPayment
	}
	if p.Status != rzpPayCreated {
		return nil, errNotPending
	}
	return p, nil
}

// authorizeLocked moves p to authorized. Caller holds rz.mu.
func (rz *razorpay) authorizeLocked(p *rzpPayment) []rzpEvent {
	p.Status, p.Failure = rzpPayAuthorized, nil
	return []rzpEvent{rz.eventLocked("payment.authorized", p, nil)}
}

// captureLocked captures p and marks its order paid. Caller holds rz.mu.
func (rz *razorpay) captureLocked(p *rzpPayment) []rzpEvent {
	p.Status, p.Captured = rzpPayCaptured, true
	o := p.Order
	o.Status, o.AmountPaid = rzpOrderPaid, p.Amount
	return []rzpEvent{
		rz.eventLocked("payment.captured", p, nil),
		rz.eventLocked("order.paid", p, nil),
	}
}
