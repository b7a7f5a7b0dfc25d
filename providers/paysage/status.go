package paysage

import (
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// paymentStatus maps a PaySage transaction status (reference §4.2) to the
// canonical payment status:
//
//	pending, incomplete, initial → requires_action (the customer still has
//	                               to act on form.action)
//	successful                   → succeeded
//	failed, error                → failed
//	expired                      → expired
//	deleted                      → cancelled
//	anything else                → unknown
func paymentStatus(s string) providers.Status {
	switch strings.ToLower(s) {
	case "pending", "incomplete", "initial":
		return providers.StatusRequiresAction
	case "successful":
		return providers.StatusSucceeded
	case "failed", "error":
		return providers.StatusFailed
	case "expired":
		return providers.StatusExpired
	case "deleted":
		return providers.StatusCancelled
	}
	return providers.StatusUnknown
}

// refundStatus maps the status of a refund transaction: successful →
// succeeded; failed, error, expired, deleted → failed; pending (and the
// not-yet-final statuses) → pending. Unknown values are "" (no claim).
func refundStatus(s string) string {
	switch strings.ToLower(s) {
	case "successful":
		return providers.RefundSucceeded
	case "failed", "error", "expired", "deleted":
		return providers.RefundFailed
	case "pending", "incomplete", "initial":
		return providers.RefundPending
	}
	return ""
}

// paymentEventType is the canonical event for a payment status; "" for
// statuses that are no event (requires_action, unknown).
func paymentEventType(s providers.Status) string {
	return paymentEventTypes[s]
}

// paymentEventTypes are the statuses that make an event, with its type
// (built once: not a string per notification).
var paymentEventTypes = func() map[providers.Status]string {
	m := map[providers.Status]string{}
	for _, s := range []providers.Status{providers.StatusProcessing, providers.StatusAuthorized, providers.StatusSucceeded,
		providers.StatusFailed, providers.StatusCancelled, providers.StatusExpired} {
		m[s] = "payment." + string(s)
	}
	return m
}()
