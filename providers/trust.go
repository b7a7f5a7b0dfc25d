package providers

import "time"

// Trust says how far a notification authenticates one of its claims. The
// host (caddymodule/trust.go) turns the claims of a notification into
// facts, a fetch from the provider, or a refusal, from these levels alone:
// a provider states what its scheme covers, never what to do about it.
type Trust uint8

const (
	// Unsigned: the claim is not covered by any signature the gateway can
	// check (an unsigned form field, an unsigned header, or a notification
	// whose signature scheme is undocumented). It is a hint, never a fact:
	// the host takes the value from its own record or a provider fetch, and
	// an unsigned claim that contradicts them is logged as tampering.
	Unsigned Trust = iota
	// SignedFields: covered by a signature computed over concatenated
	// fields (payabl.'s security over transactionid+type+errorcode+
	// timestamp). The provider package accepts each such field only in its
	// one canonical form, so characters cannot be moved across a field
	// boundary; as defence in depth, the host still confirms by a fetch
	// every status that says money moved, did not move or moved back,
	// wherever the provider's API can state it.
	SignedFields
	// SignedBody: covered by a signature over the whole raw message (an
	// HMAC or RSA signature of the body). A fact as the provider sent it.
	SignedBody
)

// String names the level (for logs).
func (t Trust) String() string {
	switch t {
	case SignedFields:
		return "signed_fields"
	case SignedBody:
		return "signed_body"
	}
	return "unsigned"
}

// Claims states, per claim of a notification, how far it is
// authenticated. The zero value trusts nothing.
type Claims struct {
	// Object covers Object, ProviderRef and PaymentRef: which object the
	// notification is about. Unsigned means the notification could not be
	// authenticated at all (it only tells the host which object to fetch).
	Object Trust
	// Status covers EventType and Status. A status inferred from a signed
	// message rather than stated by it (Razorpay's payment.failed is about
	// one attempt, not the order) is Unsigned.
	Status Trust
	// Amount covers Amount and Currency.
	Amount Trust
	// Reference covers Reference (the merchant reference).
	Reference Trust
	// Time covers At.
	Time Trust
}

// Fresh reports whether the notification's signed time (if any) is within
// its provider's window at now. A notification without a signed time, or
// without a window, is fresh: its provider offers nothing to check.
func (n *Notification) Fresh(now time.Time) bool {
	if n.Trust.Time == Unsigned || n.At.IsZero() || n.MaxAge <= 0 {
		return true
	}
	return now.Sub(n.At) <= n.MaxAge
}
