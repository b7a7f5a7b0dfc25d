package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
)

// SentNotification is one notification the server posted, with the reply
// it got, so tests can check both what the gateway received and how it
// answered.
type SentNotification struct {
	// PaymentID is the fake payment the notification is about.
	PaymentID string
	// Status is the wire status it announces.
	Status string
	// URL is where it was posted (the payment's notification_url; empty
	// when the payment had none, in which case nothing was posted).
	URL string
	// Header and Body are exactly what was posted.
	Header http.Header
	Body   []byte
	// StatusCode and Reply are the receiver's answer (0 and nil when none
	// came); Err describes a transport failure.
	StatusCode int
	Reply      []byte
	Err        string
}

// Incoming returns the notification as the gateway receives it.
func (n SentNotification) Incoming() *providers.IncomingNotification {
	return &providers.IncomingNotification{
		Method: http.MethodPost,
		Header: n.Header.Clone(),
		Body:   bytes.Clone(n.Body),
	}
}

// Notifications returns every notification posted so far, oldest first.
func (s *Server) Notifications() []SentNotification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentNotification(nil), s.sent...)
}

// NotificationsFor returns the notifications posted about one payment.
func (s *Server) NotificationsFor(paymentID string) []SentNotification {
	var out []SentNotification
	for _, n := range s.Notifications() {
		if n.PaymentID == paymentID {
			out = append(out, n)
		}
	}
	return out
}

// ErrNotPending is returned by Checkout for a payment that is unknown or
// already completed.
var ErrNotPending = errors.New("fake: payment unknown or not pending")

// Checkout completes a pending payment as the customer would on the hosted
// page: approve moves it to succeeded and posts a "processing" then a
// "succeeded" notification; decline moves it to failed and posts "failed".
// Notifications are posted synchronously, in order, and returned.
func (s *Server) Checkout(ctx context.Context, paymentID string, approve bool) ([]SentNotification, error) {
	s.mu.Lock()
	p, ok := s.payments[paymentID]
	if !ok || p.Status != wirePending {
		s.mu.Unlock()
		return nil, ErrNotPending
	}
	statuses := []string{wireFailed}
	if approve {
		statuses = []string{wireProcessing, wireSucceeded}
	}
	p.Status = statuses[len(statuses)-1]
	snap := *p
	s.mu.Unlock()

	out := make([]SentNotification, 0, len(statuses))
	for _, st := range statuses {
		body, _ := json.Marshal(wireNotification{
			EventID: newID("fe_"), Type: "payment.status", PaymentID: snap.ID,
			Reference: snap.Reference, Status: st, Amount: snap.Amount, Currency: snap.Currency,
		})
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set(SignatureHeader, Sign(s.secret, body))
		n := s.post(ctx, SentNotification{PaymentID: snap.ID, Status: st, URL: snap.NotificationURL, Header: h, Body: body})
		out = append(out, n)
	}
	return out, nil
}

// Resend posts an already sent notification again, byte for byte (as
// providers retry), and returns the new record.
func (s *Server) Resend(ctx context.Context, n SentNotification) SentNotification {
	n.StatusCode, n.Reply, n.Err = 0, nil, ""
	n.Header, n.Body = n.Header.Clone(), bytes.Clone(n.Body)
	return s.post(ctx, n)
}

// post sends n to n.URL (when set), fills in the reply and records it.
func (s *Server) post(ctx context.Context, n SentNotification) SentNotification {
	if n.URL == "" {
		n.Err = "the payment has no notification_url"
	} else if req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(n.Body)); err != nil {
		n.Err = "bad notification_url"
	} else {
		req.Header = n.Header.Clone()
		client := s.Client
		if client == nil {
			client = &http.Client{Timeout: 5 * time.Second}
		}
		if resp, err := client.Do(req); err != nil {
			n.Err = err.Error()
		} else {
			n.StatusCode = resp.StatusCode
			n.Reply, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
	}
	s.mu.Lock()
	s.sent = append(s.sent, n)
	s.mu.Unlock()
	return n
}

// checkoutAction serves POST /checkout/{id}?action=approve|decline and
// answers {"payment": …, "return_url": …} (it does not redirect, so test
// clients stay in control of where they go next).
func (s *Server) checkoutAction(w http.ResponseWriter, r *http.Request) {
	action := r.URL.Query().Get("action")
	if action != "approve" && action != "decline" {
		writeError(w, http.StatusBadRequest, "invalid_action", "action must be approve or decline")
		return
	}
	id := r.PathValue("id")
	if _, err := s.Checkout(context.WithoutCancel(r.Context()), id, action == "approve"); err != nil {
		writeError(w, http.StatusConflict, "not_pending", "the payment is unknown or already completed")
		return
	}
	s.mu.Lock()
	p := *s.payments[id]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"payment": p, "return_url": p.ReturnURL})
}

var checkoutTmpl = template.Must(template.New("checkout").Parse(`<!doctype html>
<title>Fake checkout</title>
<p>Pay {{.Amount}} (minor units) {{.Currency}} for {{.Reference}}</p>
<form method="post" action="/checkout/{{.ID}}?action=approve"><button>Approve</button></form>
<form method="post" action="/checkout/{{.ID}}?action=decline"><button>Decline</button></form>
`))

// checkoutPage serves the hosted checkout a customer is redirected to.
func (s *Server) checkoutPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.payments[r.PathValue("id")]
	var snap wirePayment
	if ok {
		snap = *p
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = checkoutTmpl.Execute(w, snap)
}
