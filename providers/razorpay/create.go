package razorpay

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Razorpay ids: a prefix and alphanumerics (14 on Razorpay; the pattern
// is looser so another emulator's ids pass). Checked before an id goes
// into a URL path.
var (
	orderIDRe   = regexp.MustCompile(`^order_[A-Za-z0-9]{1,40}$`)
	paymentIDRe = regexp.MustCompile(`^pay_[A-Za-z0-9]{1,40}$`)
	refundIDRe  = regexp.MustCompile(`^rfnd_[A-Za-z0-9]{1,40}$`)
)

// ValidatePayment implements providers.Provider: Razorpay's own limits,
// checked before anything is sent.
func (p *Provider) ValidatePayment(req *providers.CreatePayment) error {
	caps := p.Capabilities()
	if !contains(caps.Currencies, req.Currency) {
		return providers.Invalid("currency", "currency must be one of %v for this Razorpay account", caps.Currencies)
	}
	if req.Currency == "INR" && req.Amount < minINR {
		return providers.Invalid("amount", "amount must be at least %d (INR 1.00, Razorpay's minimum)", minINR)
	}
	if c := req.Customer.Country; c != "" && !contains(caps.Countries, c) {
		return providers.Invalid("customer.country", "customer.country must be one of %v for this Razorpay account", caps.Countries)
	}
	if len(req.Reference) > maxReceipt || !isASCII(req.Reference) {
		return providers.Invalid("reference", "reference must be at most %d ASCII characters (it is Razorpay's order receipt)", maxReceipt)
	}
	c := req.Customer
	if c.Email == "" {
		return providers.Missing("customer.email")
	}
	if utf8.RuneCountInString(c.Email) > maxEmail {
		return providers.Invalid("customer.email", "customer.email must be at most %d characters for Razorpay", maxEmail)
	}
	if c.Phone == "" {
		return providers.Missing("customer.phone")
	}
	if len(c.Phone) > maxContact {
		return providers.Invalid("customer.phone", "customer.phone must be at most %d characters including the country code (Razorpay contact)", maxContact)
	}
	if c.IP == "" {
		return providers.Missing("customer.ip")
	}
	if len(req.Metadata) > maxNotes {
		return providers.Invalid("metadata", "metadata may hold at most %d keys for Razorpay (order notes)", maxNotes)
	}
	for k, v := range req.Metadata {
		if utf8.RuneCountInString(v) > maxNoteValue {
			return providers.Invalid("metadata."+k, "metadata values must be at most %d characters for Razorpay (order notes)", maxNoteValue)
		}
	}
	if req.GatewayReturnURL != "" {
		if _, err := url.Parse(req.GatewayReturnURL); err != nil {
			return providers.Internal("the gateway return URL is not a URL")
		}
	}
	return nil
}

// buildOrder maps the canonical request to the order body.
func buildOrder(req *providers.CreatePayment) *orderRequest {
	return &orderRequest{
		Amount: req.Amount, Currency: req.Currency, Receipt: req.Reference,
		Notes: notes(req.Metadata),
		Payment: orderCapture{Capture: "automatic", CaptureOptions: captureOptions{
			AutomaticExpiryPeriod: 7200, ManualExpiryPeriod: 7200, RefundSpeed: "normal",
		}},
	}
}

// buildPayment maps the canonical request and the created order to the
// S2S payment body. callback_url is the gateway's return URL with the order
// id added, so VerifyReturn checks the signature against the order the
// gateway created rather than one the browser names.
func buildPayment(req *providers.CreatePayment, orderID string) *paymentRequest {
	body := &paymentRequest{
		Amount: req.Amount, Currency: req.Currency, OrderID: orderID,
		Email: req.Customer.Email, Contact: req.Customer.Phone,
		Method: "app", Provider: "trustly",
		IP: req.Customer.IP, Referer: req.Customer.Referer, UserAgent: req.Customer.UserAgent,
		Notes: notes(req.Metadata), Description: req.Description,
	}
	if req.GatewayReturnURL != "" {
		if u, err := url.Parse(req.GatewayReturnURL); err == nil {
			q := u.Query()
			q.Set("order_id", orderID)
			u.RawQuery = q.Encode()
			body.CallbackURL = u.String()
		}
	}
	return body
}

func notes(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// CreatePayment implements providers.Provider: POST /v1/orders, and
// nothing else. The order is the canonical payment (its id is the
// provider reference); the single payment attempt on it is made by Launch
// when the customer's browser opens the launch URL (see the package doc:
// one attempt per order). The payment answers requires_action and
// carries LaunchData, the body of that attempt (no secret), which the
// host turns into the one-time launch URL of next_action.
//
// Razorpay's order create has no idempotency key (reference §10), so a
// reply that leaves the outcome unknown (5xx, timeout, unreadable) is
// request_sent "unknown" and not retryable: the merchant looks the
// payment up by reference before creating it again.
func (p *Provider) CreatePayment(ctx context.Context, do providers.Doer, req *providers.CreatePayment) (*providers.Payment, error) {
	var o order
	if _, err := p.call(ctx, do, request{method: http.MethodPost, path: "/v1/orders", body: buildOrder(req), fields: createFields}, &o); err != nil {
		return nil, notIdempotent(err, "look the payment up by reference (GET /payments?reference=…) before creating it again")
	}
	if !orderIDRe.MatchString(o.ID) {
		return nil, notIdempotent(providers.Garbage("the order reply has no valid order id"), "look the payment up by reference (GET /payments?reference=…) before creating it again")
	}
	if o.Amount != req.Amount || o.Currency != req.Currency {
		return nil, notIdempotent(providers.Garbage("the order reply has another amount or currency than requested"), "look the payment up by reference (GET /payments?reference=…) before creating it again")
	}
	data, err := json.Marshal(buildPayment(req, o.ID))
	if err != nil {
		return nil, providers.Internal("could not encode the launch data")
	}
	pay := p.newPayment(&o)
	pay.Reference = req.Reference
	pay.Status = providers.StatusRequiresAction
	pay.ProviderStatus = "order:created"
	pay.LaunchData = string(data)
	// The host replaces this with the launch URL.
	pay.NextAction = &providers.NextAction{Type: "poll"}
	return pay, nil
}

// maxCreatedAt is 9999-12-31T23:59:59Z, the last second a time.Time
// encodes as JSON; a later created_at is ignored like a missing one.
const maxCreatedAt = 253402300799

// newPayment starts a canonical payment from an order.
func (p *Provider) newPayment(o *order) *providers.Payment {
	pay := &providers.Payment{
		Object: "payment", ProviderReference: o.ID, Reference: o.Receipt,
		Amount: o.Amount, Currency: o.Currency, Test: p.test,
	}
	if o.CreatedAt > 0 && o.CreatedAt <= maxCreatedAt {
		pay.CreatedAt = time.Unix(o.CreatedAt, 0).UTC()
	}
	return pay
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
