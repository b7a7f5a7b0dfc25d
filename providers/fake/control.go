package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/caddy-payments/caddy-payments/providers"
)

// SetStatus moves a payment, refund or payout (by its fake id: fp_, fr_
// or fo_) to a wire status without notifying anyone, as a provider whose
// notification about it was lost on the way. A refund moved to failed
// gives its amount back to the payment's refundable balance.
func (s *Server) SetStatus(id, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.payments[id]; ok {
		p.Status = status
		return nil
	}
	if rf, ok := s.refunds[id]; ok {
		if status == "failed" && rf.Status != "failed" {
			if p, ok := s.payments[rf.PaymentID]; ok {
				p.Refunded -= rf.Amount
			}
		}
		rf.Status = status
		return nil
	}
	if po, ok := s.payouts[id]; ok {
		po.Status = status
		return nil
	}
	return fmt.Errorf("fake: no payment, refund or payout %q", id)
}

// ResendRequests counts the requests to resend a payment's notification
// (POST /payments/{id}/notification) the server answered.
func (s *Server) ResendRequests(paymentID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resends[paymentID]
}

// resendNotification serves POST /payments/{id}/notification: it posts a
// signed notification of the payment's current status to its
// notification_url again (as payabl's send_notification does) and
// answers 202 once it was posted, whatever the receiver answered.
func (s *Server) resendNotification(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	p, ok := s.payments[id]
	var snap wirePayment
	if ok {
		snap = *p
		s.resends[id]++
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such payment")
		return
	}
	body, _ := json.Marshal(wireNotification{
		EventID: newID("fe_"), Type: "payment.status", PaymentID: snap.ID,
		Reference: snap.Reference, Status: snap.Status, Amount: snap.Amount, Currency: snap.Currency,
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(SignatureHeader, Sign(s.secret, body))
	s.post(context.WithoutCancel(r.Context()), SentNotification{PaymentID: snap.ID, Status: snap.Status, URL: snap.NotificationURL, Header: h, Body: body})
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "sent"})
}

// ResendNotification implements providers.Resender.
func (p *Provider) ResendNotification(ctx context.Context, do providers.Doer, ref string) error {
	if ref == "" {
		return providers.NotFound("the payment was not found")
	}
	var out map[string]string
	return p.call(ctx, do, http.MethodPost, "/payments/"+url.PathEscape(ref)+"/notification", nil, &out)
}

var _ providers.Resender = (*Provider)(nil)
