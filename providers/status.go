package providers

// Status is a canonical payment status.
type Status string

// Canonical payment statuses (PRODUCT.md, "Payment object").
const (
	StatusRequiresAction Status = "requires_action"
	StatusProcessing     Status = "processing"
	StatusAuthorized     Status = "authorized"
	StatusSucceeded      Status = "succeeded"
	StatusFailed         Status = "failed"
	StatusCancelled      Status = "cancelled"
	StatusExpired        Status = "expired"
	StatusUnknown        Status = "unknown"
)

// Canonical refund statuses.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
)

// Canonical payout statuses.
const (
	PayoutPending    = "pending"
	PayoutProcessing = "processing"
	PayoutSucceeded  = "succeeded"
	PayoutFailed     = "failed"
	PayoutReversed   = "reversed"
)

// paymentRank orders the non-final payment statuses: a payment only moves
// to a status of a higher rank, or to a final status.
var paymentRank = map[Status]int{
	StatusUnknown:        0,
	StatusRequiresAction: 1,
	StatusProcessing:     2,
	StatusAuthorized:     3,
	StatusSucceeded:      4,
	StatusFailed:         4,
	StatusCancelled:      4,
	StatusExpired:        4,
}

// Valid reports whether s is a canonical payment status.
func (s Status) Valid() bool { _, ok := paymentRank[s]; return ok }

// Final reports whether no ordinary transition leaves s. StatusFailed is
// final except for the one confirmed upward move (see CanTransition).
func (s Status) Final() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusCancelled, StatusExpired:
		return true
	}
	return false
}

// CanTransition reports whether a payment may move from one status to
// another. A payment never moves backwards: succeeded, cancelled and
// expired are final; failed is final except that a provider that later
// confirms the money (Razorpay's late authorisation) moves it to authorized
// or succeeded — and only when confirmed is true, meaning the new status
// came from a fetch from the provider, never from an unconfirmed message.
// Moving to the same status is not a transition (returns false).
func CanTransition(from, to Status, confirmed bool) bool {
	if from == to || !to.Valid() || to == StatusUnknown {
		return false
	}
	if !from.Valid() {
		return true
	}
	switch from {
	case StatusSucceeded, StatusCancelled, StatusExpired:
		return false
	case StatusFailed:
		return confirmed && (to == StatusAuthorized || to == StatusSucceeded)
	}
	if to.Final() {
		return true
	}
	return paymentRank[to] > paymentRank[from]
}

// refundRank and payoutRank: pending < final; succeeded → failed is not
// allowed for refunds; for payouts succeeded → reversed is (a bank can
// return a payout days later).
var refundRank = map[string]int{RefundPending: 0, RefundSucceeded: 1, RefundFailed: 1}

var payoutRank = map[string]int{PayoutPending: 0, PayoutProcessing: 1, PayoutSucceeded: 2, PayoutFailed: 2, PayoutReversed: 3}

// CanTransitionRefund reports whether a refund may move between statuses.
func CanTransitionRefund(from, to string) bool {
	rf, okf := refundRank[from]
	rt, okt := refundRank[to]
	if !okt || from == to {
		return false
	}
	return !okf || rt > rf
}

// CanTransitionPayout reports whether a payout may move between statuses.
func CanTransitionPayout(from, to string) bool {
	rf, okf := payoutRank[from]
	rt, okt := payoutRank[to]
	if !okt || from == to {
		return false
	}
	if !okf {
		return true
	}
	if from == PayoutFailed || from == PayoutReversed {
		return false
	}
	if to == PayoutReversed {
		return from == PayoutSucceeded
	}
	return rt > rf
}

// EventTypes lists every canonical event type the gateway forwards.
var EventTypes = []string{
	"payment.processing", "payment.authorized", "payment.succeeded", "payment.failed",
	"payment.cancelled", "payment.expired", "payment.disputed",
	"refund.pending", "refund.succeeded", "refund.failed",
	"payout.pending", "payout.processing", "payout.succeeded", "payout.failed", "payout.reversed",
}

// ValidEventType reports whether t is one of EventTypes.
func ValidEventType(t string) bool {
	for _, e := range EventTypes {
		if e == t {
			return true
		}
	}
	return false
}
