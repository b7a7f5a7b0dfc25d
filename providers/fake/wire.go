package fake

import "time"

// The fake wire: a deliberately tiny JSON API, shaped like the real
// providers' (create, fetch, find by reference, refund, payout, signed
// notifications) so the gateway and the conformance suite can be exercised
// end to end without a sandbox. Amounts are integer minor units.

// Wire statuses of a payment. "pending" means the customer has not yet
// finished the hosted checkout.
const (
	wirePending    = "pending"
	wireProcessing = "processing"
	wireSucceeded  = "succeeded"
	wireFailed     = "failed"
)

// Magic amounts (minor units) that make the server misbehave on
// POST /payments and POST /payouts, so error handling can be tested.
const (
	// AmountDecline makes the server decline the request (402).
	AmountDecline int64 = 1313
	// AmountGarbage makes the server answer 200 with a body that is not JSON.
	AmountGarbage int64 = 1111
	// AmountSlow makes the server wait Server.SlowDelay before answering.
	AmountSlow int64 = 1212
)

// SignatureHeader carries hex(HMAC-SHA256(secret, body)) on notifications.
const SignatureHeader = "X-Fake-Signature"

// wireCreatePayment is the body of POST /payments.
type wireCreatePayment struct {
	Reference       string `json:"reference"`
	Amount          int64  `json:"amount"`
	Currency        string `json:"currency"`
	Description     string `json:"description,omitempty"`
	CustomerEmail   string `json:"customer_email,omitempty"`
	NotificationURL string `json:"notification_url,omitempty"`
	ReturnURL       string `json:"return_url,omitempty"`
}

// wirePayment is a payment as the server returns it.
type wirePayment struct {
	ID              string    `json:"id"`
	Reference       string    `json:"reference"`
	Amount          int64     `json:"amount"`
	Currency        string    `json:"currency"`
	Status          string    `json:"status"`
	CheckoutURL     string    `json:"checkout_url,omitempty"`
	Refunded        int64     `json:"refunded"`
	CreatedAt       time.Time `json:"created_at"`
	NotificationURL string    `json:"-"`
	ReturnURL       string    `json:"-"`
}

// wireCreateRefund is the body of POST /payments/{id}/refunds.
type wireCreateRefund struct {
	Amount    int64  `json:"amount"`
	Reference string `json:"reference,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// wireRefund is a refund as the server returns it.
type wireRefund struct {
	ID        string    `json:"id"`
	PaymentID string    `json:"payment_id"`
	Reference string    `json:"reference,omitempty"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// wireCreatePayout is the body of POST /payouts.
type wireCreatePayout struct {
	Reference  string `json:"reference"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	Country    string `json:"country"`
	IBAN       string `json:"iban,omitempty"`
	HolderName string `json:"holder_name,omitempty"`
	PaymentID  string `json:"payment_id,omitempty"`
}

// wirePayout is a payout as the server returns it.
type wirePayout struct {
	ID        string    `json:"id"`
	Reference string    `json:"reference"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// wireError is the body of every error reply.
type wireError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wireNotification is the signed body the server posts to a payment's
// notification_url.
type wireNotification struct {
	EventID   string `json:"event_id"`
	Type      string `json:"type"` // always "payment.status"
	PaymentID string `json:"payment_id"`
	Reference string `json:"reference"`
	Status    string `json:"status"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
}
