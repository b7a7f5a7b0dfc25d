package razorpay

import "encoding/json"

// orderRequest is the body of POST /v1/orders (reference §2.2, §5.2).
// Field order is the wire order (golden tests compare exact JSON).
type orderRequest struct {
	Amount   int64             `json:"amount"`
	Currency string            `json:"currency"`
	Receipt  string            `json:"receipt"`
	Notes    map[string]string `json:"notes,omitempty"`
	Payment  orderCapture      `json:"payment"`
}

// orderCapture is the per-order capture setting. Automatic capture with
// the longest documented windows (7200 minutes = 5 days) so a late
// authorisation is still captured rather than auto-refunded.
type orderCapture struct {
	Capture        string         `json:"capture"`
	CaptureOptions captureOptions `json:"capture_options"`
}

type captureOptions struct {
	AutomaticExpiryPeriod int    `json:"automatic_expiry_period"`
	ManualExpiryPeriod    int    `json:"manual_expiry_period"`
	RefundSpeed           string `json:"refund_speed"`
}

// paymentRequest is the body of POST /v1/payments/create/redirect (the
// same fields as /v1/payments/create/json, reference §3.2, §3.3). It is
// also the LaunchData, so it must never hold a secret.
type paymentRequest struct {
	Amount      int64             `json:"amount"`
	Currency    string            `json:"currency"`
	OrderID     string            `json:"order_id"`
	Email       string            `json:"email"`
	Contact     string            `json:"contact"`
	Method      string            `json:"method"`
	Provider    string            `json:"provider"`
	IP          string            `json:"ip,omitempty"`
	Referer     string            `json:"referer,omitempty"`
	UserAgent   string            `json:"user_agent,omitempty"`
	CallbackURL string            `json:"callback_url,omitempty"`
	Notes       map[string]string `json:"notes,omitempty"`
	Description string            `json:"description,omitempty"`
}

// order is the order entity (reference §2.4). notes may be {} or [].
type order struct {
	ID         string          `json:"id"`
	Entity     string          `json:"entity"`
	Amount     int64           `json:"amount"`
	AmountPaid int64           `json:"amount_paid"`
	AmountDue  int64           `json:"amount_due"`
	Currency   string          `json:"currency"`
	Receipt    string          `json:"receipt"`
	Status     string          `json:"status"`
	Attempts   int             `json:"attempts"`
	Notes      json.RawMessage `json:"notes"`
	CreatedAt  int64           `json:"created_at"`
}

// payment is the payment entity (reference §4.2), the fields used here.
type payment struct {
	ID               string `json:"id"`
	Entity           string `json:"entity"`
	Amount           int64  `json:"amount"`
	Currency         string `json:"currency"`
	Status           string `json:"status"`
	OrderID          string `json:"order_id"`
	AmountRefunded   int64  `json:"amount_refunded"`
	RefundStatus     string `json:"refund_status"`
	Captured         bool   `json:"captured"`
	ErrorCode        string `json:"error_code"`
	ErrorDescription string `json:"error_description"`
	ErrorReason      string `json:"error_reason"`
	CreatedAt        int64  `json:"created_at"`
}

// refundRequest is the body of POST /v1/payments/{id}/refund (§6.1).
type refundRequest struct {
	Amount  int64             `json:"amount"`
	Speed   string            `json:"speed"`
	Notes   map[string]string `json:"notes,omitempty"`
	Receipt string            `json:"receipt,omitempty"`
}

// refund is the refund entity (reference §6.2).
type refund struct {
	ID        string `json:"id"`
	Entity    string `json:"entity"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	PaymentID string `json:"payment_id"`
	Receipt   string `json:"receipt"`
	Status    string `json:"status"`
	CreatedAt int64  `json:"created_at"`
}

// collection is a Razorpay list reply.
type collection[T any] struct {
	Entity string `json:"entity"`
	Count  int    `json:"count"`
	Items  []T    `json:"items"`
}
