package sandbox

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Messages of the transaction and of its payment block.
const (
	psMsgInitialized = "Transaction was initialized."
	psMsgSuccessful  = "Successfully processed"
	psMsgDeclined    = "Payment was declined."
	psMsgExpired     = "Transaction has expired."
)

// psIdemTTL is how long a RequestID is remembered (beGateway: 24 hours).
const psIdemTTL = 24 * time.Hour

// psIdem remembers which transaction a RequestID produced.
type psIdem struct {
	uid string
	at  time.Time
}

// replayLocked finds the transaction an earlier attempt with the same
// RequestID created for op ("payments" or "refunds"). Caller holds p.mu.
func (p *paysage) replayLocked(op, requestID string, now time.Time) *psTxn {
	if requestID == "" {
		return nil
	}
	key := op + " " + requestID
	e, ok := p.idem[key]
	if !ok {
		return nil
	}
	if now.Sub(e.at) > psIdemTTL {
		delete(p.idem, key)
		return nil
	}
	return p.txns[e.uid]
}

// rememberLocked records that requestID created t. Caller holds p.mu.
func (p *paysage) rememberLocked(op, requestID string, t *psTxn, now time.Time) {
	if requestID != "" {
		p.idem[op+" "+requestID] = psIdem{uid: t.UID, at: now}
	}
}

// requestID is the RequestID header (beGateway's idempotency key).
func requestID(r *http.Request) string {
	return strings.TrimSpace(r.Header.Get("RequestID"))
}

// replyTxn answers {"transaction":{…}} with t's current state.
func (p *paysage) replyTxn(w http.ResponseWriter, t *psTxn) error {
	p.mu.Lock()
	body := map[string]any{"transaction": p.wire(t)}
	p.mu.Unlock()
	return writePaysageJSON(w, http.StatusOK, body)
}

// createPayment emulates POST /beyag/transactions/payments for Trustly.
// A repeat of a RequestID answers the first attempt's transaction, in its
// current state, whatever the new body says: beGateway treats every
// request with the same RequestID as an attempt of the same request.
func (p *paysage) createPayment(w http.ResponseWriter, r *http.Request) error {
	rid := requestID(r)
	p.mu.Lock()
	prev := p.replayLocked("payments", rid, time.Now())
	p.mu.Unlock()
	if prev != nil {
		return p.replyTxn(w, prev)
	}

	m, errs, bad := readEnvelope(w, r)
	if bad != nil {
		return bad.write(w)
	}
	now := time.Now()
	q := checkPaymentRequest(m, errs, now)
	if len(errs) > 0 {
		return writePaysageError(w, http.StatusUnprocessableEntity, psUnprocessable, errs)
	}
	if q.Amount == psMagicGarbage {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte("<html>oops"))
		return err
	}

	t := &psTxn{
		Type:            psTypePayment,
		Status:          psPending,
		Message:         psMsgInitialized,
		Amount:          q.Amount,
		Currency:        q.Currency,
		Description:     q.Description,
		TrackingID:      q.TrackingID,
		Language:        q.Language,
		RefID:           randomHex(10),
		IP:              q.IP,
		Cust:            q.Cust,
		ReturnURL:       q.ReturnURL,
		NotificationURL: q.NotificationURL,
		ExpiredAt:       q.ExpiredAt,
		Base:            p.env.baseURL(r),
		Token:           randomHex(20),
		FormToken:       randomHex(16),
		ReceiptHash:     randomHex(32),
		Duplicate:       q.Amount == psMagicDuplicate,
	}
	if q.Amount == psMagicDecline {
		t.Status, t.Message = psFailed, psMsgDeclined
	}

	p.mu.Lock()
	// A concurrent attempt with the same RequestID may have won the race.
	if prev := p.replayLocked("payments", rid, now); prev != nil {
		p.mu.Unlock()
		return p.replyTxn(w, prev)
	}
	p.insertLocked(t)
	p.rememberLocked("payments", rid, t, now)
	p.mu.Unlock()

	if !t.ExpiredAt.IsZero() && t.Status == psPending {
		uid, wait := t.UID, time.Until(t.ExpiredAt)
		p.env.goAsync(func(ctx context.Context) {
			if p.env.sleep(ctx, wait) {
				_, _ = p.decide(uid, psExpired)
			}
		})
	}
	if q.Amount == psMagicSlow {
		// The payment exists already: a client that gave up finds it by
		// tracking_id, or by repeating the RequestID.
		if !p.env.sleep(r.Context(), p.env.slowDelay) {
			return nil
		}
	}
	return p.replyTxn(w, t)
}

// getTransaction emulates GET /beyag/transactions/{uid}.
func (p *paysage) getTransaction(w http.ResponseWriter, uid string) error {
	p.mu.Lock()
	t := p.txns[uid]
	p.mu.Unlock()
	if t == nil {
		return writePaysageError(w, http.StatusNotFound, "Record not found", psErrs{"base": []string{"Record not found"}})
	}
	return p.replyTxn(w, t)
}

// psLookupLimit caps a tracking_id lookup at the most recent matches, as
// beGateway's card API documents (10).
const psLookupLimit = 10

// lookupTracking emulates GET /beyag/transactions/tracking_id/{id}:
// {"transactions":[…]} of every transaction (payments and refunds) with
// that tracking_id, oldest first, at most the 10 most recent; an unknown
// tracking_id gives an empty list.
func (p *paysage) lookupTracking(w http.ResponseWriter, id string) error {
	p.mu.Lock()
	list := []any{}
	if id != "" {
		var match []*psTxn
		for _, t := range p.ordered {
			if t.TrackingID == id {
				match = append(match, t)
			}
		}
		if len(match) > psLookupLimit {
			match = match[len(match)-psLookupLimit:]
		}
		for _, t := range match {
			list = append(list, p.wire(t))
		}
	}
	p.mu.Unlock()
	return writePaysageJSON(w, http.StatusOK, map[string]any{"transactions": list})
}
