package store

import (
	"context"
	"strings"
	"time"
)

// ReconcileCheck is a scheduled re-fetch of a payment, refund or payout
// that is not final yet: no notification came, Razorpay's
// late-authorisation window is open, payabl fails unfunded payments after
// 15 days, a refund's or payout's outcome notification was lost. Server,
// Host and Path say how to reach the gateway's notification route on this
// Caddy server, so a change found by the check travels to the shop like a
// notification's event.
type ReconcileCheck struct {
	// ID is the canonical id of the object to re-fetch; its prefix names
	// the kind (pay_, re_, po_: see providers/ids.go). It is stored as
	// "payment_id", the name checks had when only payments were
	// reconciled, so checks stored by earlier versions read as before.
	ID       string    `json:"payment_id"`
	Provider string    `json:"provider"`
	Server   string    `json:"server"`
	Host     string    `json:"host"`
	Path     string    `json:"path"`
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"next_at"`
	Created  time.Time `json:"created"`
}

// objectCheck reports whether a check is about a refund or a payout.
// Those are kept in a queue of their own (bolt bucket reconcile_objects,
// Redis keys P reconcile:objects and P reconcile:objects:due), apart from
// payment checks, because versions that reconciled only payments read
// every check of the payment queue as a payment's and end the ones whose
// id is not a payment id: on one Redis during a rolling upgrade, an old
// instance would otherwise drop the new instances' refund and payout
// checks.
func objectCheck(id string) bool {
	return strings.HasPrefix(id, "re_") || strings.HasPrefix(id, "po_")
}

// ReconcileQueue is implemented by stores that can keep reconcile checks.
// It is separate from Store so that a store without it still works (the
// gateway then reconciles only when asked, on GET /payments/{id}).
type ReconcileQueue interface {
	// ScheduleCheck stores or replaces the check of c.ID.
	ScheduleCheck(ctx context.Context, c *ReconcileCheck) error
	// ClaimDueChecks takes up to limit due checks (of payments, refunds
	// and payouts) and leases them, like ClaimDueEvents.
	ClaimDueChecks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*ReconcileCheck, error)
	// DoneCheck removes the check of an object (a missing one is no error).
	DoneCheck(ctx context.Context, id string) error
}
