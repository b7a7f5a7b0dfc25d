package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/caddy-payments/caddy-payments/providers"
)

// VerifyNotification implements providers.Provider. The whole body is
// signed (HMAC-SHA256 with the account secret, hex in X-Fake-Signature),
// so every field, amounts included, is trusted once the MAC matches.
func (p *Provider) VerifyNotification(n *providers.IncomingNotification) (*providers.Notification, error) {
	if n == nil || len(n.Body) == 0 {
		return nil, fmt.Errorf("fake: empty notification: %w", providers.ErrUnauthenticated)
	}
	if !validSignature(p.secret, n.Body, n.Header.Get(SignatureHeader)) {
		return nil, fmt.Errorf("fake: bad or missing %s: %w", SignatureHeader, providers.ErrUnauthenticated)
	}
	var w wireNotification
	if err := json.Unmarshal(n.Body, &w); err != nil {
		return nil, providers.Invalid("body", "a signed notification that is not the expected JSON")
	}
	if w.Type != "payment.status" || w.EventID == "" || w.PaymentID == "" {
		return nil, providers.Invalid("body", "a signed notification without type payment.status, event_id and payment_id")
	}
	providerEvent, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("fake: encoding the provider event: %w", err)
	}
	status := paymentStatus(w.Status)
	event := ""
	switch status {
	case providers.StatusProcessing, providers.StatusSucceeded, providers.StatusFailed:
		event = "payment." + string(status)
	}
	return &providers.Notification{
		Object:      "payment",
		ProviderRef: w.PaymentID,
		Reference:   w.Reference,
		EventType:   event,
		Status:      string(status),
		Amount:      w.Amount,
		Currency:    w.Currency,
		Trust: providers.Claims{Object: providers.SignedBody, Status: providers.SignedBody,
			Amount: providers.SignedBody, Reference: providers.SignedBody, Time: providers.SignedBody},
		EventKey: w.EventID,
		// The fields the fake's notification defines, re-encoded (the
		// body carries no secret; its signature is a header).
		ProviderEvent:  providerEvent,
		ProviderStatus: w.Status,
	}, nil
}

// Acknowledge implements providers.Provider: the fake expects 200 "ok".
func (p *Provider) Acknowledge(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := io.WriteString(w, "ok")
	return err
}
