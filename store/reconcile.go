package store

import (
	"context"
	"time"
)

// ReconcileCheck is a scheduled re-fetch of a payment that is not final
// yet: no notification came, Razorpay's late-authorisation window is
// open, payabl fails unfunded payments after 15 days. Server, Host and
// Path say how to reach the gateway's notification route on this Caddy
// server, so a change found by the check travels to the shop like a
// notification's event.
type ReconcileCheck struct {
	PaymentID string    `json:"payment_id"`
	Provider  string    `json:"provider"`
	Server    string    `json:"server"`
	Host      string    `json:"host"`
	Path      string    `json:"path"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	Created   time.Time `json:"created"`
}

// ReconcileQueue is implemented by stores that can keep reconcile checks.
// It is separate from Store so that a store without it still works (the
// gateway then reconciles only when asked, on GET /payments/{id}).
type ReconcileQueue interface {
	// ScheduleCheck stores or replaces the check of c.PaymentID.
	ScheduleCheck(ctx context.Context, c *ReconcileCheck) error
	// ClaimDueChecks takes up to limit due checks and leases them, like
	// ClaimDueEvents.
	ClaimDueChecks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*ReconcileCheck, error)
	// DoneCheck removes the check of a payment (a missing one is no error).
	DoneCheck(ctx context.Context, paymentID string) error
}
