package providers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Doer sends one provider request. The host implements it: it owns the
// transport, the per-call timeout, logging and metrics. An error from Do is
// always a *Error of type provider_unreachable whose RequestSent says
// whether the request reached the wire ("no" for a refused connection,
// "unknown" for a timeout or a connection lost after sending).
//
// Do reads the whole reply body (capped) and closes it; the returned body
// is in Reply.Body.
type Doer interface {
	Do(ctx context.Context, req *http.Request) (*Reply, error)
}

// Reply is a provider's HTTP reply, read in full.
type Reply struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Account identifies the provider account (the block name) a call is for.
// Providers use it to build canonical objects.
type Account struct {
	// Name is the block name from the config ("payabl", "payabl_uk").
	Name string
}

// Operation names, used in Capabilities.Operations.
const (
	OpCreatePayment = "create_payment"
	OpGetPayment    = "get_payment"
	OpFindPayment   = "find_payment"
	OpRefund        = "refund"
	OpGetRefund     = "get_refund"
	OpPayout        = "payout"
	OpGetPayout     = "get_payout"
	OpNotifications = "notifications"
	OpReturns       = "returns"
)

// Capabilities is what a provider account supports; served (without
// secrets) at GET /providers and used by the host to refuse requests early.
type Capabilities struct {
	Type       string   `json:"type"`
	Test       bool     `json:"test"`
	Currencies []string `json:"currencies"`
	Countries  []string `json:"countries"`
	// PayoutCountries are bank countries a payout may go to.
	PayoutCountries []string `json:"payout_countries,omitempty"`
	Operations      []string `json:"operations"`
	// RequiredFields are canonical create-payment fields this provider needs
	// beyond the always-required ones (reference, amount, currency).
	RequiredFields []string `json:"required_fields"`
	// Limits are maximum lengths of canonical fields, as the provider
	// imposes them (e.g. "reference": 30).
	Limits map[string]int `json:"limits,omitempty"`
}

// Supports reports whether op is in Operations.
func (c Capabilities) Supports(op string) bool {
	for _, o := range c.Operations {
		if o == op {
			return true
		}
	}
	return false
}

// Provider is one configured provider account. Implementations are Caddy
// guest modules in the http.payments.providers namespace; they resolve their
// secrets in Provision.
//
// Object identifiers: every method that returns a canonical object fills
// ProviderReference with an opaque string the same provider can later be
// given back (as ref) to fetch the object. It may pack several provider
// ids (e.g. an order and a payment id). The host turns it into the public
// canonical id. Providers leave ID, Provider and PaymentID empty; the host
// fills them.
type Provider interface {
	Capabilities() Capabilities

	// ValidatePayment checks provider limits on an already canonically
	// valid request, before anything is sent.
	ValidatePayment(req *CreatePayment) error
	CreatePayment(ctx context.Context, do Doer, req *CreatePayment) (*Payment, error)
	GetPayment(ctx context.Context, do Doer, ref string) (*Payment, error)
	// FindPayment finds a payment by the merchant reference; NotFound when
	// the provider has none.
	FindPayment(ctx context.Context, do Doer, reference string) (*Payment, error)

	// VerifyNotification authenticates and parses a provider notification.
	// It is pure (no calls): it returns ErrUnauthenticated (possibly
	// wrapped) when the notification does not verify.
	VerifyNotification(n *IncomingNotification) (*Notification, error)
	// Acknowledge writes the reply the provider expects for a notification
	// that was accepted.
	Acknowledge(w http.ResponseWriter) error
}

// Refunder is implemented by providers that refund payments.
type Refunder interface {
	ValidateRefund(req *RefundRequest) error
	Refund(ctx context.Context, do Doer, req *RefundRequest) (*Refund, error)
	// GetRefund fetches a refund; NotSupported when the provider cannot
	// answer, in which case the host serves its record.
	GetRefund(ctx context.Context, do Doer, ref string) (*Refund, error)
}

// PayoutSender is implemented by providers that send payouts.
type PayoutSender interface {
	ValidatePayout(req *CreatePayout) error
	CreatePayout(ctx context.Context, do Doer, req *CreatePayout) (*Payout, error)
	GetPayout(ctx context.Context, do Doer, ref string) (*Payout, error)
}

// Returner is implemented by providers whose customer returns (the browser
// coming back from the provider) carry something to verify. The host
// calls it only for a return whose gateway-issued return_token is valid
// (see caddymodule/returns.go), with that token's merchant reference in
// r.Query "reference"; whatever else the browser sends is a hint at most.
type Returner interface {
	// VerifyReturn checks the return request and says whether the payment
	// looks successful (a hint for picking the merchant's URL; the status
	// itself always comes from a fetch or a notification). It returns the
	// payment's provider reference, or "" when the return does not name it.
	VerifyReturn(ctx context.Context, do Doer, r *IncomingNotification) (ref string, success bool, err error)
}

// Launcher is implemented by providers whose documented create reply has no
// URL to send the customer to (Razorpay's Trustly JSON reply carries only a
// poll action). Such a create returns a Payment with LaunchData; when the
// customer's browser opens the one-time launch URL, the host calls Launch
// with that data and the browser's request, and serves the reply (e.g. the
// HTML page of Razorpay's /v1/payments/create/redirect) to the browser.
type Launcher interface {
	Launch(ctx context.Context, do Doer, data string, browser *IncomingNotification) (*Reply, error)
}

// IncomingNotification is the raw inbound request, body already read
// (capped by max_body).
type IncomingNotification struct {
	Method string
	Header http.Header
	Query  url.Values
	Body   []byte
}

// Notification is a verified provider notification, normalised.
type Notification struct {
	// Object is "payment", "refund" or "payout".
	Object string
	// ProviderRef is the provider reference of the object the notification
	// is about (what GetPayment/GetRefund/GetPayout accepts).
	ProviderRef string
	// PaymentRef is, for refunds, the provider reference of the payment.
	PaymentRef string
	// Reference is the merchant reference when the notification carries
	// one (a hint unless Trust.Reference says it is signed).
	Reference string
	// EventType is the canonical event this notification claims
	// ("payment.succeeded"); empty when it maps to none (acknowledged,
	// logged and counted, not forwarded).
	EventType string
	// Status is the canonical status claimed (payment Status, or a refund
	// or payout status string).
	Status string
	// Amount and Currency as the notification states them (0/"" if
	// absent).
	Amount   int64
	Currency string
	// Trust states, per claim, how far the notification authenticates it
	// (see Claims). Nothing is trusted by default.
	Trust Claims
	// At is the time the notification states it was made (zero when it
	// states none); trusted as Trust.Time says.
	At time.Time
	// MaxAge is the provider's documented window for delivering a
	// notification (its retry period). A notification whose signed At is
	// older is a replay as far as the gateway can tell: the host forwards
	// only what a provider fetch says about it. Zero: no window.
	MaxAge time.Duration
	// EventKey is a deterministic key for this notification built only
	// from signed content (never an unsigned header or field): the same
	// provider notification always gives the same key, so the event id and
	// de-duplication use it. Empty when nothing is signed (the host then
	// builds the key from what its fetch established).
	EventKey string
	// ProviderEvent holds the provider's own fields with secrets and
	// signatures removed and bank account numbers masked to the last 4, as
	// one compact JSON object (nil when there is none; never "{}"). It is
	// raw JSON so that a provider hands it over without decoding its body
	// into a generic map: number literals (amounts) stay byte for byte as
	// the provider wrote them.
	ProviderEvent json.RawMessage
	// ProviderStatus and ProviderMessage are the raw provider code and text.
	ProviderStatus  string
	ProviderMessage string
}
