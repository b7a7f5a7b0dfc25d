package paysage

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy-payments/caddy-payments/providers"
)

// wirePayment is the APM payment request for Trustly (seed 003 request
// table and example; reference §3). Field order follows the seed example.
type wirePayment struct {
	Amount          int64        `json:"amount"`
	Currency        string       `json:"currency"`
	Description     string       `json:"description"`
	Test            bool         `json:"test,omitempty"`
	TrackingID      string       `json:"tracking_id,omitempty"`
	ReturnURL       string       `json:"return_url"`
	NotificationURL string       `json:"notification_url,omitempty"`
	Language        string       `json:"language,omitempty"`
	IP              string       `json:"ip,omitempty"`
	Customer        wireCustomer `json:"customer"`
	Method          wireMethod   `json:"method"`
}

// wireCustomer is request.customer for Trustly.
type wireCustomer struct {
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	Country    string `json:"country"`
	ExternalID string `json:"external_id"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	City       string `json:"city,omitempty"`
	Address    string `json:"address,omitempty"`
	Zip        string `json:"zip,omitempty"`
	BirthDate  string `json:"birth_date,omitempty"`
}

// wireMethod is request.method; always {"type":"trustly"}.
type wireMethod struct {
	Type string `json:"type"`
}

// ValidatePayment implements providers.Provider: every PaySage rule is
// checked here, before anything is sent, naming the canonical field.
func (p *Provider) ValidatePayment(req *providers.CreatePayment) error {
	_, err := p.buildPayment(req)
	return err
}

// buildPayment maps a canonical create-payment request to PaySage's
// Trustly payment (the single place payment fields are validated, so
// ValidatePayment and CreatePayment cannot disagree).
//
// Mapping: amount (minor units, as is), currency, description,
// reference → tracking_id, language, the return URL (see returnURL), the
// gateway's notification URL → notification_url, customer.ip → ip (top
// level, as the APM API wants it), customer.{first_name, last_name,
// country, email, phone, birth_date} as is, customer.id → external_id,
// address line1 (+ line2) → address, city, postal_code → zip, and
// method.type "trustly"; "test": true when the shop is configured test.
// address.state, user_agent, referer and metadata have no PaySage field
// and are not sent.
func (p *Provider) buildPayment(req *providers.CreatePayment) (*wirePayment, error) {
	c := req.Customer
	if err := checkReference("reference", req.Reference, true); err != nil {
		return nil, err
	}
	if err := p.checkAmount("amount", req.Amount, req.Currency); err != nil {
		return nil, err
	}
	if req.Description == "" {
		return nil, providers.Missing("description")
	}
	if utf8.RuneCountInString(req.Description) > limits["description"] {
		return nil, providers.Invalid("description", "description must be at most %d characters for PaySage", limits["description"])
	}
	for _, f := range []struct{ field, val string }{
		{"customer.id", c.ID}, {"customer.first_name", c.FirstName}, {"customer.last_name", c.LastName}, {"customer.country", c.Country},
	} {
		if strings.TrimSpace(f.val) == "" {
			e := providers.Missing(f.field)
			e.Message = f.field + " is required by PaySage Trustly"
			return nil, e
		}
	}
	if !providers.ValidCountry(c.Country) {
		return nil, providers.Invalid("customer.country", "customer.country must be an ISO 3166-1 alpha-2 code such as SE")
	}
	if _, cty := p.accepts(); !contains(cty, c.Country) {
		return nil, providers.Invalid("customer.country", "customer.country %s is not accepted by this PaySage shop (its countries option lists %s)", c.Country, strings.Join(cty, ", "))
	}
	if c.IP != "" && net.ParseIP(c.IP) == nil {
		return nil, providers.Invalid("customer.ip", "customer.ip must be an IPv4 or IPv6 address")
	}
	if c.BirthDate != "" {
		if _, err := time.Parse("2006-01-02", c.BirthDate); err != nil {
			return nil, providers.Invalid("customer.birth_date", "customer.birth_date must be a date in YYYY-MM-DD form (ISO 8601)")
		}
	}
	if req.Language != "" && !isLanguage(req.Language) {
		return nil, providers.Invalid("language", "language must be a lower-case two-letter ISO 639-1 code such as \"en\"")
	}
	ret, err := returnURL(req)
	if err != nil {
		return nil, err
	}
	if req.NotificationURL != "" && !absoluteHTTP(req.NotificationURL) {
		return nil, providers.Invalid("notification_url", "the gateway's notification URL must be an absolute http(s) URL (check public_url)")
	}
	w := &wirePayment{
		Amount: req.Amount, Currency: req.Currency, Description: req.Description, Test: p.Test,
		TrackingID: req.Reference, ReturnURL: ret, NotificationURL: req.NotificationURL,
		Language: req.Language, IP: c.IP,
		Customer: wireCustomer{
			FirstName: c.FirstName, LastName: c.LastName, Country: c.Country, ExternalID: c.ID,
			Email: c.Email, Phone: c.Phone, BirthDate: c.BirthDate,
		},
		Method: wireMethod{Type: "trustly"},
	}
	if a := c.Address; a != nil {
		w.Customer.Address = strings.TrimSpace(strings.TrimSpace(a.Line1) + " " + strings.TrimSpace(a.Line2))
		w.Customer.City, w.Customer.Zip = a.City, a.PostalCode
	}
	return w, nil
}

// returnURL picks the one return_url PaySage takes (required for Trustly).
// A merchant that gives success_url or failure_url gets the gateway's
// /returns/<name> URL (with the reference, so the return can be matched
// even if PaySage adds nothing to it): the gateway then fetches the status
// and sends the customer to the success or failure URL. A merchant that
// gives only return_url gets it directly.
func returnURL(req *providers.CreatePayment) (string, error) {
	for _, u := range []struct{ field, val string }{
		{"return_url", req.ReturnURL}, {"success_url", req.SuccessURL}, {"failure_url", req.FailureURL},
	} {
		if u.val != "" && !absoluteHTTP(u.val) {
			return "", providers.Invalid(u.field, "%s must be an absolute http(s) URL", u.field)
		}
	}
	if (req.SuccessURL != "" || req.FailureURL != "") && req.GatewayReturnURL != "" {
		u, err := url.Parse(req.GatewayReturnURL)
		if err != nil || !absoluteHTTP(req.GatewayReturnURL) {
			return "", providers.Invalid("return_url", "the gateway's return URL must be an absolute http(s) URL (check public_url)")
		}
		q := u.Query()
		q.Set(returnRefParam, req.Reference)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	for _, u := range []string{req.ReturnURL, req.SuccessURL, req.FailureURL} {
		if u != "" {
			return u, nil
		}
	}
	e := providers.Missing("return_url")
	e.Message = "return_url (or success_url/failure_url) is required by PaySage Trustly"
	return "", e
}

// checkReference checks a value sent as tracking_id: at most 255
// characters of A-Z, a-z, 0-9 and . _ : -. PaySage reads ';' as a
// separator of several tracking ids, and lookup puts the value in a URL
// path, where '/' (and "." or "..") would change its meaning.
func checkReference(field, ref string, required bool) error {
	if ref == "" {
		if required {
			return providers.Missing(field)
		}
		return nil
	}
	if len(ref) > limits["reference"] {
		return providers.Invalid(field, "%s must be at most %d characters for PaySage", field, limits["reference"])
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == ':' || c == '-') {
			return providers.Invalid(field, "%s must be characters of A-Z, a-z, 0-9 and . _ : - for PaySage (it becomes the tracking_id, which PaySage splits at ';' and looks up in a URL path)", field)
		}
	}
	if ref == "." || ref == ".." {
		return providers.Invalid(field, "%s must not be \".\" or \"..\" for PaySage (it is looked up in a URL path)", field)
	}
	return nil
}

// checkAmount checks a positive amount in one of the shop's currencies
// (PaySage Trustly's five unless `currencies` says otherwise). PaySage
// takes integer minor units, so no conversion happens.
func (p *Provider) checkAmount(field string, amount int64, currency string) error {
	if cur, _ := p.accepts(); !contains(cur, currency) {
		return providers.Invalid("currency", "currency %s is not supported by this PaySage shop (supported: %s)", currency, strings.Join(cur, ", "))
	}
	if amount <= 0 {
		return providers.Invalid(field, "%s must be greater than 0", field)
	}
	return nil
}

// CreatePayment implements providers.Provider: POST
// /beyag/transactions/payments. PaySage answers with a pending transaction
// whose form.action is the Trustly payment page; the outcome arrives by
// webhook or status query. A 5xx or unreadable reply is an unknown
// outcome (see outcomeUnknown).
func (p *Provider) CreatePayment(ctx context.Context, do providers.Doer, req *providers.CreatePayment) (*providers.Payment, error) {
	w, err := p.buildPayment(req)
	if err != nil {
		return nil, err
	}
	reply, err := p.call(ctx, do, http.MethodPost, pathPayments, w, p.requestID("payment", req.IdempotencyKey))
	if err != nil {
		return nil, noBlindRetry(err, req.IdempotencyKey != "", lookupPayment)
	}
	t, err := transactionReply(reply)
	if err != nil {
		return nil, outcomeUnknown(err, reply.StatusCode, lookupPayment)
	}
	pay, err := p.paymentFromCreate(req, t)
	if err != nil {
		return nil, outcomeUnknown(err, reply.StatusCode, lookupPayment)
	}
	return pay, nil
}

// paymentFromCreate maps the create reply:
//
//	failed                        → provider_declined (code "failed")
//	error                         → provider_error (code "error")
//	pending/incomplete/initial    → requires_action, next_action from form
//	successful                    → succeeded
//	anything else                 → that canonical status
//
// A reply about another amount, currency or tracking_id is not about this
// request and is garbage.
func (p *Provider) paymentFromCreate(req *providers.CreatePayment, t *transaction) (*providers.Payment, error) {
	if t.Type != "" && t.Type != "payment" {
		return nil, providers.Garbage("PaySage reply is not a payment transaction")
	}
	if t.amountMinor != req.Amount || t.Currency != req.Currency {
		return nil, providers.Garbage("PaySage reply names another amount or currency")
	}
	if t.TrackingID != "" && t.TrackingID != req.Reference {
		return nil, providers.Garbage("PaySage reply names another tracking_id")
	}
	switch strings.ToLower(t.Status) {
	case "failed":
		return nil, providers.Declined("failed", clip(t.message()))
	case "error":
		return nil, providers.ProviderFault("error", clip(t.message()), providers.SentYes, false)
	}
	pay := p.paymentFromTransaction(t)
	pay.Reference = req.Reference
	if pay.Status == providers.StatusRequiresAction {
		if t.Form == nil || t.Form.Action == "" {
			return nil, providers.Garbage("PaySage reply has no form.action to send the customer to")
		}
		na, err := t.Form.nextAction()
		if err != nil {
			return nil, err
		}
		pay.NextAction = na
	}
	return pay, nil
}

// paymentFromTransaction is the canonical payment of a checked payment
// transaction. The next action is added (for an unfinished payment) when
// the transaction still carries a usable form.
func (p *Provider) paymentFromTransaction(t *transaction) *providers.Payment {
	pay := &providers.Payment{
		Object:            "payment",
		ProviderReference: t.UID,
		Reference:         t.TrackingID,
		Amount:            t.amountMinor,
		Currency:          t.Currency,
		Status:            paymentStatus(t.Status),
		ProviderStatus:    t.Status,
		ProviderMessage:   clip(t.message()),
		Test:              p.Test || t.Test,
		CreatedAt:         t.created(),
	}
	if pay.Status == providers.StatusRequiresAction && t.Form != nil && t.Form.Action != "" {
		if na, err := t.Form.nextAction(); err == nil {
			pay.NextAction = na
		}
	}
	return pay
}

// isLanguage reports whether s is two lower-case ASCII letters.
func isLanguage(s string) bool {
	return len(s) == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'
}

// absoluteHTTP reports whether s is an absolute http(s) URL with a host.
func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
