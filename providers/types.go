// Package providers holds the contract between the payments gateway (the
// host module in caddymodule) and the provider packages (payabl, razorpay,
// paysage): the canonical request and response types, the canonical error,
// the status rules, and the Provider interface every provider implements.
//
// Providers are pure where they can be: a canonical value goes in, signed
// provider requests go out through a Doer the host owns (transport,
// timeouts, logging, metrics), and provider bytes come back as canonical
// values. Providers never import the host.
package providers

import "time"

// Namespace is the Caddy module namespace of provider accounts.
const Namespace = "http.payments.providers"

// Customer is the paying customer as the shop knows them. IP, UserAgent and
// Referer are the customer's browser values, not the shop's own request.
type Customer struct {
	ID        string   `json:"id,omitempty"`
	FirstName string   `json:"first_name,omitempty"`
	LastName  string   `json:"last_name,omitempty"`
	Email     string   `json:"email,omitempty"`
	Phone     string   `json:"phone,omitempty"`
	Country   string   `json:"country,omitempty"`
	BirthDate string   `json:"birth_date,omitempty"` // YYYY-MM-DD
	IP        string   `json:"ip,omitempty"`
	UserAgent string   `json:"user_agent,omitempty"`
	Referer   string   `json:"referer,omitempty"`
	Address   *Address `json:"address,omitempty"`
}

// Address is a postal address.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	State      string `json:"state,omitempty"`
}

// CreatePayment is the canonical create-payment request, already decoded
// strictly and validated by the host (see caddymodule).
type CreatePayment struct {
	Provider    string            `json:"provider,omitempty"`
	Reference   string            `json:"reference"`
	Amount      int64             `json:"amount"`
	Currency    string            `json:"currency"`
	Description string            `json:"description,omitempty"`
	Customer    Customer          `json:"customer"`
	Language    string            `json:"language,omitempty"`
	ReturnURL   string            `json:"return_url,omitempty"`
	SuccessURL  string            `json:"success_url,omitempty"`
	FailureURL  string            `json:"failure_url,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`

	// Set by the host, not by the merchant.

	// NotificationURL is the gateway's /notifications/{name} URL for this
	// provider account, built from public_url.
	NotificationURL string `json:"-"`
	// GatewayReturnURL is the gateway's /returns/{name} URL.
	GatewayReturnURL string `json:"-"`
	// IdempotencyKey is the merchant's Idempotency-Key header, if any, for
	// providers that accept one.
	IdempotencyKey string `json:"-"`
}

// NextAction tells the merchant what to do with the customer.
type NextAction struct {
	Type   string            `json:"type"`             // redirect | poll
	URL    string            `json:"url,omitempty"`    // for redirect
	Method string            `json:"method,omitempty"` // GET | POST
	Fields map[string]string `json:"fields,omitempty"` // form fields for POST
}

// Payment is the canonical payment object.
type Payment struct {
	ID                string      `json:"id"`
	Object            string      `json:"object"` // always "payment"
	Provider          string      `json:"provider"`
	ProviderReference string      `json:"provider_reference"`
	Reference         string      `json:"reference,omitempty"`
	Amount            int64       `json:"amount"`
	Currency          string      `json:"currency"`
	Status            Status      `json:"status"`
	NextAction        *NextAction `json:"next_action,omitempty"`
	AmountRefunded    int64       `json:"amount_refunded"`
	ProviderStatus    string      `json:"provider_status,omitempty"`
	ProviderMessage   string      `json:"provider_message,omitempty"`
	Test              bool        `json:"test"`
	CreatedAt         time.Time   `json:"created_at"`

	// LaunchData, set by a Launcher provider on create, asks the host to
	// send the customer through a one-time URL under public_url instead of
	// a provider URL: the host stores it under a fresh token and answers
	// next_action = redirect GET <public_url>/returns/<name>/launch/<token>.
	// It may hold customer data but never a secret; it is not shown.
	LaunchData string `json:"-"`

	// Set by fetches (GetPayment), never shown.

	// Confirms is a status this fetch is consistent with but cannot
	// establish on its own: payabl.'s tx_diagnose error_code 0 says
	// "accepted", which the documents do not separate from "credited", so
	// the fetch reports processing and Confirms succeeded. The host moves
	// the payment to Confirms only when a notification whose claims are
	// bound to its signed fields says so, and the fetched amount and
	// currency match the record.
	Confirms Status `json:"-"`
	// Dispute identifies the latest chargeback or dispute the fetch
	// established ("" when it established none, or cannot tell). A
	// payment.disputed event is forwarded only when a fetch or a
	// whole-body signature states the dispute; its event key is built from
	// this value.
	Dispute string `json:"-"`
}

// RefundRequest is the canonical refund request. Amount is always set by the
// host (an omitted amount becomes the remaining refundable amount).
type RefundRequest struct {
	Amount    int64  `json:"amount"`
	Currency  string `json:"-"`
	Reason    string `json:"reason,omitempty"`
	Reference string `json:"reference,omitempty"`

	// Set by the host.
	PaymentProviderRef string `json:"-"`
	PaymentAmount      int64  `json:"-"`
	IdempotencyKey     string `json:"-"`
}

// Refund is the canonical refund object.
type Refund struct {
	ID                string    `json:"id"`
	Object            string    `json:"object"` // always "refund"
	Provider          string    `json:"provider"`
	ProviderReference string    `json:"provider_reference"`
	PaymentID         string    `json:"payment_id"`
	Reference         string    `json:"reference,omitempty"`
	Amount            int64     `json:"amount"`
	Currency          string    `json:"currency"`
	Status            string    `json:"status"` // pending | succeeded | failed
	ProviderStatus    string    `json:"provider_status,omitempty"`
	ProviderMessage   string    `json:"provider_message,omitempty"`
	Test              bool      `json:"test"`
	CreatedAt         time.Time `json:"created_at"`
	// CreatedBy names the API key that created the refund (the api_key
	// name, or "api_token"); empty when the gateway does not know it.
	CreatedBy string `json:"created_by,omitempty"`
}

// BankAccount is a payout destination.
type BankAccount struct {
	Country       string `json:"country"`
	IBAN          string `json:"iban,omitempty"`
	BankNumber    string `json:"bank_number,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
	HolderName    string `json:"holder_name,omitempty"`
}

// CreatePayout is the canonical payout request.
type CreatePayout struct {
	Provider    string       `json:"provider,omitempty"`
	Reference   string       `json:"reference"`
	Amount      int64        `json:"amount"`
	Currency    string       `json:"currency"`
	PaymentID   string       `json:"payment_id,omitempty"`
	BankAccount *BankAccount `json:"bank_account,omitempty"`
	Customer    *Customer    `json:"customer,omitempty"`
	Description string       `json:"description,omitempty"`

	// Set by the host: the provider reference of PaymentID.
	PaymentProviderRef string `json:"-"`
	NotificationURL    string `json:"-"`
	IdempotencyKey     string `json:"-"`
}

// Payout is the canonical payout object.
type Payout struct {
	ID                string    `json:"id"`
	Object            string    `json:"object"` // always "payout"
	Provider          string    `json:"provider"`
	ProviderReference string    `json:"provider_reference"`
	Reference         string    `json:"reference,omitempty"`
	Amount            int64     `json:"amount"`
	Currency          string    `json:"currency"`
	Status            string    `json:"status"` // pending|processing|succeeded|failed|reversed
	ProviderStatus    string    `json:"provider_status,omitempty"`
	ProviderMessage   string    `json:"provider_message,omitempty"`
	Test              bool      `json:"test"`
	CreatedAt         time.Time `json:"created_at"`
	// CreatedBy names the API key that created the payout (the api_key
	// name, or "api_token"); empty when the gateway does not know it.
	CreatedBy string `json:"created_by,omitempty"`
}
