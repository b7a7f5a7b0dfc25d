package sandbox

import "time"

// The emulator's objects and their wire entities (reference §2.4, §4.2,
// §6.2). Entities are rendered under razorpay.mu, so a webhook carries a
// snapshot of the moment of its event, as Razorpay's do.

// Order statuses.
const (
	rzpOrderCreated   = "created"
	rzpOrderAttempted = "attempted"
	rzpOrderPaid      = "paid"
)

// Payment statuses.
const (
	rzpPayCreated    = "created"
	rzpPayAuthorized = "authorized"
	rzpPayCaptured   = "captured"
	rzpPayRefunded   = "refunded"
	rzpPayFailed     = "failed"
)

// Refund statuses.
const (
	rzpRefundPending   = "pending"
	rzpRefundProcessed = "processed"
	rzpRefundFailed    = "failed"
)

// rzpOrder is one order.
type rzpOrder struct {
	ID            string
	Amount        int64
	Currency      string
	Receipt       *string
	Notes         map[string]any
	Status        string
	Attempts      int
	AmountPaid    int64
	CreatedAt     int64
	ManualCapture bool
	// Payments are the attempts on this order, oldest first.
	Payments []*rzpPayment
}

// rzpFailure is the error_* group of a failed payment.
type rzpFailure struct {
	Code, Description, Source, Step, Reason string
}

// The two failures the sandbox produces: the customer's Decline (the
// cancelled-payment sample of reference §4.2) and a bank decline (the
// payment.failed sample of §9.4).
var (
	rzpCancelled = rzpFailure{"BAD_REQUEST_ERROR", "Your payment has been cancelled. Try again or complete the payment later.",
		"customer", "payment_authentication", "payment_cancelled"}
	rzpBankFailed = rzpFailure{"BAD_REQUEST_ERROR", "Payment failed", "bank", "payment_authorization", "payment_failed"}
)

// rzpPayment is one payment attempt.
type rzpPayment struct {
	ID          string
	Order       *rzpOrder
	Amount      int64
	Currency    string
	Status      string
	Email       string
	Contact     string
	Description *string
	Notes       map[string]any
	CallbackURL string
	// Via is "json" or "redirect": which create endpoint made it.
	Via            string
	AmountRefunded int64
	Captured       bool
	Failure        *rzpFailure
	CreatedAt      int64
	Created        time.Time
	// Token is the checkout path token; FormToken guards the Approve and
	// Decline form so a blind cross-site POST cannot decide a payment.
	Token     string
	FormToken string
	// Duplicate (magic 1414) sends every webhook twice; LateAuth (magic
	// 1515) fails first and authorizes late.
	Duplicate bool
	LateAuth  bool
	Refunds   []*rzpRefund
	Webhooks  []rzpDelivery
}

// rzpRefund is one refund.
type rzpRefund struct {
	ID             string
	Payment        *rzpPayment
	Amount         int64
	Notes          map[string]any
	Receipt        *string
	Status         string
	SpeedRequested string
	SpeedProcessed string
	CreatedAt      int64
}

// rzpOrderEntity is the order entity, fields in the documented order.
type rzpOrderEntity struct {
	ID         string  `json:"id"`
	Entity     string  `json:"entity"`
	Amount     int64   `json:"amount"`
	AmountPaid int64   `json:"amount_paid"`
	AmountDue  int64   `json:"amount_due"`
	Currency   string  `json:"currency"`
	Receipt    *string `json:"receipt"`
	OfferID    *string `json:"offer_id"`
	Status     string  `json:"status"`
	Attempts   int     `json:"attempts"`
	Notes      any     `json:"notes"`
	CreatedAt  int64   `json:"created_at"`
}

// entity renders o. Caller holds razorpay.mu.
func (o *rzpOrder) entity() rzpOrderEntity {
	return rzpOrderEntity{
		ID:         o.ID,
		Entity:     "order",
		Amount:     o.Amount,
		AmountPaid: o.AmountPaid,
		AmountDue:  o.Amount - o.AmountPaid,
		Currency:   o.Currency,
		Receipt:    o.Receipt,
		Status:     o.Status,
		Attempts:   o.Attempts,
		Notes:      rzpNotes(o.Notes),
		CreatedAt:  o.CreatedAt,
	}
}

// rzpPaymentEntity is the payment entity of reference §4.2 (fields in the
// order of Razorpay's webhook sample, plus provider). base_amount is always
// present, as in the INR webhook sample; base_currency only when the
// currency is not INR (reference §4.2).
type rzpPaymentEntity struct {
	ID                string         `json:"id"`
	Entity            string         `json:"entity"`
	Amount            int64          `json:"amount"`
	Currency          string         `json:"currency"`
	BaseAmount        int64          `json:"base_amount"`
	BaseCurrency      *string        `json:"base_currency,omitempty"`
	Status            string         `json:"status"`
	OrderID           *string        `json:"order_id"`
	InvoiceID         *string        `json:"invoice_id"`
	International     bool           `json:"international"`
	Method            string         `json:"method"`
	Provider          *string        `json:"provider"`
	AmountRefunded    int64          `json:"amount_refunded"`
	AmountTransferred int64          `json:"amount_transferred"`
	RefundStatus      *string        `json:"refund_status"`
	Captured          bool           `json:"captured"`
	Description       *string        `json:"description"`
	CardID            *string        `json:"card_id"`
	Bank              *string        `json:"bank"`
	Wallet            *string        `json:"wallet"`
	VPA               *string        `json:"vpa"`
	Email             string         `json:"email"`
	Contact           string         `json:"contact"`
	Notes             any            `json:"notes"`
	Fee               *int64         `json:"fee"`
	Tax               *int64         `json:"tax"`
	ErrorCode         *string        `json:"error_code"`
	ErrorDescription  *string        `json:"error_description"`
	ErrorSource       *string        `json:"error_source"`
	ErrorStep         *string        `json:"error_step"`
	ErrorReason       *string        `json:"error_reason"`
	AcquirerData      map[string]any `json:"acquirer_data"`
	CreatedAt         int64          `json:"created_at"`
}

// rzpBaseRate is the sandbox's fixed, made-up conversion to INR for
// base_amount. It is deliberately not 1, so a client that reads
// base_amount instead of amount is caught.
const rzpBaseRate = 90

// rzpFeePercent is Razorpay's published Trustly price (3.0%, reference §0);
// the fee includes 18% GST, reported as tax.
const rzpFeePercent = 3

// entity renders p. Caller holds razorpay.mu.
func (p *rzpPayment) entity() rzpPaymentEntity {
	provider, orderID := "trustly", p.Order.ID
	e := rzpPaymentEntity{
		ID:             p.ID,
		Entity:         "payment",
		Amount:         p.Amount,
		Currency:       p.Currency,
		Status:         p.Status,
		OrderID:        &orderID,
		International:  p.Currency != "INR",
		Method:         "app",
		Provider:       &provider,
		AmountRefunded: p.AmountRefunded,
		Captured:       p.Captured,
		Description:    p.Description,
		Email:          p.Email,
		Contact:        p.Contact,
		Notes:          rzpNotes(p.Notes),
		AcquirerData:   map[string]any{"transaction_id": nil},
		CreatedAt:      p.CreatedAt,
	}
	base := p.Amount
	if p.Currency != "INR" {
		inr := "INR"
		base *= rzpBaseRate
		e.BaseCurrency = &inr
	}
	e.BaseAmount = base
	switch {
	case p.AmountRefunded > 0 && p.AmountRefunded >= p.Amount:
		s := "full"
		e.RefundStatus = &s
	case p.AmountRefunded > 0:
		s := "partial"
		e.RefundStatus = &s
	}
	if p.Captured {
		fee := (p.Amount*rzpFeePercent + 50) / 100
		tax := fee * 18 / 118
		e.Fee, e.Tax = &fee, &tax
	}
	if f := p.Failure; f != nil {
		e.ErrorCode, e.ErrorDescription = &f.Code, &f.Description
		e.ErrorSource, e.ErrorStep, e.ErrorReason = &f.Source, &f.Step, &f.Reason
	}
	return e
}

// rzpRefundEntity is the refund entity of reference §6.2.
type rzpRefundEntity struct {
	ID             string         `json:"id"`
	Entity         string         `json:"entity"`
	Amount         int64          `json:"amount"`
	Currency       string         `json:"currency"`
	PaymentID      string         `json:"payment_id"`
	Notes          any            `json:"notes"`
	Receipt        *string        `json:"receipt"`
	AcquirerData   map[string]any `json:"acquirer_data"`
	CreatedAt      int64          `json:"created_at"`
	BatchID        *string        `json:"batch_id"`
	Status         string         `json:"status"`
	SpeedProcessed string         `json:"speed_processed"`
	SpeedRequested string         `json:"speed_requested"`
}

// entity renders f. Caller holds razorpay.mu.
func (f *rzpRefund) entity() rzpRefundEntity {
	return rzpRefundEntity{
		ID:             f.ID,
		Entity:         "refund",
		Amount:         f.Amount,
		Currency:       f.Payment.Currency,
		PaymentID:      f.Payment.ID,
		Notes:          rzpNotes(f.Notes),
		Receipt:        f.Receipt,
		AcquirerData:   map[string]any{"arn": nil},
		CreatedAt:      f.CreatedAt,
		Status:         f.Status,
		SpeedProcessed: f.SpeedProcessed,
		SpeedRequested: f.SpeedRequested,
	}
}

// rzpCollection is Razorpay's list envelope.
type rzpCollection struct {
	Entity string `json:"entity"`
	Count  int    `json:"count"`
	Items  []any  `json:"items"`
}
