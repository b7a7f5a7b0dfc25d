package payabl

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// ValidatePayment implements providers.Provider: every payabl limit is
// checked here, before anything is sent, naming the canonical field.
func (p *Provider) ValidatePayment(req *providers.CreatePayment) error {
	_, err := p.preauthParams(req)
	return err
}

// preauthParams checks the account's customer countries, then builds the
// payment_preauthorize parameters.
func (p *Provider) preauthParams(req *providers.CreatePayment) (url.Values, error) {
	if c := req.Customer.Country; c != "" && providers.ValidCountry(c) {
		if countries := p.accountCountries(); !contains(countries, c) {
			return nil, providers.Invalid("customer.country", "customer.country %s is not a customer country this payabl account accepts (%s)", c, strings.Join(countries, ", "))
		}
	}
	return buildPreauth(req, p.PaymentMethod)
}

// preauthFields is how many parameters buildPreauth sets at most.
const preauthFields = 21

// buildPreauth maps a canonical create-payment request to the
// payment_preauthorize parameters (reference §3.1), without merchantid and
// signature (added when the request is built). It is the single place
// where payment fields are validated, so ValidatePayment and CreatePayment
// cannot disagree.
//
// Mapping: reference→orderid, amount→amount ("19.99"), currency,
// customer.country→country (alpha-3), language, customer.ip→customerip,
// customer.email→email, first/last name→firstname/lastname,
// address.line1 (+ line2)→street, city, postal_code→zip, state,
// phone→phone (digits), birth_date→birthday (ddmmyyyy),
// description→custom1, success/failure/return URLs→url_success/url_failed/
// url_return, the gateway's notification URL→notification_url.
// customer.id, user_agent, referer and metadata have no payabl field and
// are not sent.
func buildPreauth(req *providers.CreatePayment, paymentMethod string) (url.Values, error) {
	c := req.Customer
	// At most preauthFields parameters are set (plus merchantid and
	// signature later); their one-element value slices share one array.
	v := make(url.Values, preauthFields+2)
	vals := make([]string, 0, preauthFields)
	set := func(name, value string) {
		if value != "" {
			vals = append(vals, value)
			n := len(vals)
			v[name] = vals[n-1 : n : n] // as v.Set(name, value), capacity 1
		}
	}
	if req.Reference == "" {
		return nil, providers.Missing("reference")
	}
	orderid, err := wireReference("reference", req.Reference)
	if err != nil {
		return nil, err
	}
	amount, err := wireAmount("amount", req.Amount, req.Currency)
	if err != nil {
		return nil, err
	}
	if c.Email == "" {
		return nil, providers.Missing("customer.email")
	}
	email, err := wireEmail("customer.email", c.Email)
	if err != nil {
		return nil, err
	}
	country, err := wireCountry("customer.country", c.Country)
	if err != nil {
		return nil, err
	}
	lang, err := wireLanguage("language", req.Language)
	if err != nil {
		return nil, err
	}
	ip, err := wireIP("customer.ip", c.IP)
	if err != nil {
		return nil, err
	}
	phone, err := wirePhone("customer.phone", c.Phone)
	if err != nil {
		return nil, err
	}
	birthday, err := wireBirthday("customer.birth_date", c.BirthDate)
	if err != nil {
		return nil, err
	}
	if err := first(
		limited("customer.first_name", c.FirstName),
		limited("customer.last_name", c.LastName),
		limited("description", req.Description),
		wireURL("return_url", req.ReturnURL),
		wireURL("success_url", req.SuccessURL),
		wireURL("failure_url", req.FailureURL),
		wireURL("notification_url", req.NotificationURL),
	); err != nil {
		return nil, err
	}
	var street, city, zip, state string
	if a := c.Address; a != nil {
		street = strings.TrimSpace(strings.TrimSpace(a.Line1) + " " + strings.TrimSpace(a.Line2))
		if err := first(
			limited("customer.address.line1", a.Line1),
			text("customer.address.line2", a.Line2, 0),
			limited("customer.address.city", a.City),
			limited("customer.address.postal_code", a.PostalCode),
			limited("customer.address.state", a.State),
		); err != nil {
			return nil, err
		}
		if len([]rune(street)) > limits["customer.address.line1"] {
			return nil, providers.Invalid("customer.address.line2", "customer.address.line1 and line2 together must be at most %d characters for payabl", limits["customer.address.line1"])
		}
		city, zip, state = a.City, a.PostalCode, a.State
	}

	// Redirects: payabl's documented APM redirect fields are url_success
	// and url_failed; url_return is where the customer lands otherwise. A
	// merchant that gives only return_url gets it for all three, so the
	// customer always comes back somewhere; one that gives only
	// success/failure URLs gets no url_return (payabl then uses the
	// outcome-specific URL), rather than a guess that could show a
	// "thank you" page for a cancelled payment.
	success, failed := req.SuccessURL, req.FailureURL
	if success == "" {
		success = req.ReturnURL
	}
	if failed == "" {
		failed = req.ReturnURL
	}

	set("orderid", orderid)
	set("amount", amount)
	set("currency", req.Currency)
	set("payment_method", paymentMethod)
	set("email", email)
	set("firstname", c.FirstName)
	set("lastname", c.LastName)
	set("country", country)
	set("language", lang)
	set("customerip", ip)
	set("phone", phone)
	set("birthday", birthday)
	set("street", street)
	set("city", city)
	set("zip", zip)
	set("state", state)
	set("custom1", req.Description)
	set("url_success", success)
	set("url_failed", failed)
	set("url_return", req.ReturnURL)
	set("notification_url", req.NotificationURL)
	return v, nil
}

// CreatePayment implements providers.Provider: payment_preauthorize, the
// Trustly entry point. payabl answers 2000 "pending" with a redirect_url
// to Trustly; the outcome arrives later by notification or tx_diagnose.
func (p *Provider) CreatePayment(ctx context.Context, do providers.Doer, req *providers.CreatePayment) (*providers.Payment, error) {
	params, err := p.preauthParams(req)
	if err != nil {
		return nil, err
	}
	body, err := p.callMoney(ctx, do, opPreauthorize, params, "payment")
	if err != nil {
		return nil, err
	}
	out, err := p.paymentFromPreauth(req, body)
	if err != nil {
		return nil, lookUp(err, "payment")
	}
	return out, nil
}

// paymentFromPreauth maps the payment_preauthorize reply.
//
//	status 0                   → authorized: a pre-authorisation reserves
//	                             funds, it does not move them; the
//	                             notification or a fetch moves it on
//	status 2000 + redirect_url → requires_action, redirect (GET)
//	status 2000 alone          → processing, poll
//	anything else              → provider_declined or provider_error
func (p *Provider) paymentFromPreauth(req *providers.CreatePayment, body []byte) (*providers.Payment, error) {
	r, err := parseFormReply(body)
	if err != nil {
		return nil, err
	}
	if r.Status != codeOK && r.Status != codePending {
		return nil, r.failure()
	}
	if !validTxID(r.TransactionID) {
		return nil, providers.Garbage("payabl reply has no numeric transactionid")
	}
	if err := r.checkEcho(req.Amount, req.Currency); err != nil {
		return nil, err
	}
	pay := &providers.Payment{
		Object:            "payment",
		ProviderReference: r.TransactionID,
		Reference:         req.Reference,
		Amount:            req.Amount,
		Currency:          req.Currency,
		ProviderStatus:    strconv.Itoa(r.Status),
		ProviderMessage:   r.Message,
		Test:              p.test,
		CreatedAt:         p.clock().UTC(),
	}
	switch {
	case r.Status == codeOK:
		pay.Status = providers.StatusAuthorized
	case r.RedirectURL != "":
		u, err := url.Parse(r.RedirectURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, providers.Garbage("payabl redirect_url is not an absolute http(s) URL")
		}
		pay.Status = providers.StatusRequiresAction
		pay.NextAction = &providers.NextAction{Type: "redirect", URL: r.RedirectURL, Method: "GET"}
	default:
		pay.Status = providers.StatusProcessing
		pay.NextAction = &providers.NextAction{Type: "poll"}
	}
	return pay, nil
}
