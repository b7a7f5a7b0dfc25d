package sandbox

import (
	"context"
	"time"
)

// decide moves a pending payment to status (successful, failed or
// expired) and sends the webhook. It is the Approve and Decline buttons,
// the sandbox-only actions and the expired_at timer.
func (p *paysage) decide(uid, status string) (*psTxn, error) {
	p.mu.Lock()
	if p.env.isStopped() {
		p.mu.Unlock()
		return nil, errStopped
	}
	t := p.txns[uid]
	if t == nil || t.Type != psTypePayment {
		p.mu.Unlock()
		return nil, errUnknownPayment
	}
	if t.Status != psPending {
		p.mu.Unlock()
		return nil, errNotPending
	}
	t.Status = status
	switch status {
	case psSuccessful:
		t.Message = psMsgSuccessful
	case psFailed:
		t.Message = psMsgDeclined
	case psExpired:
		t.Message = psMsgExpired
	}
	t.Updated = time.Now().UTC().Truncate(time.Second)
	t.Version++
	n, err := p.noticeLocked(t)
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !p.env.goAsync(func(ctx context.Context) { p.send(ctx, t, n) }) {
		return nil, errStopped
	}
	return t, nil
}
