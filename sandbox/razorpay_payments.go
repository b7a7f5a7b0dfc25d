package sandbox

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// rzpPaymentFields are the S2S create-payment fields (reference §3.2)
// that make sense for Trustly. Both spellings of the referer are accepted:
// the field table says "referrer", every code sample sends "referer"
// (reference §3.2 [X]).
var rzpPaymentFields = []string{"amount", "currency", "order_id", "email", "contact", "method", "provider",
	"ip", "referer", "referrer", "user_agent", "callback_url", "notes", "description", "customer_id", "key_id"}

// rzpPaymentInput is a validated create-payment body.
type rzpPaymentInput struct {
	amount      int64
	currency    string
	orderID     string
	email       string
	contact     string
	callbackURL string
	description *string
	notes       map[string]any
}

// rzpCreateReply is the documented Trustly reply of /v1/payments/create/json
// (reference §3.4): a payment id and a single poll action, nothing else.
type rzpCreateReply struct {
	PaymentID string    `json:"razorpay_payment_id"`
	Next      []rzpNext `json:"next"`
}

// rzpNext is one next[] action.
type rzpNext struct {
	Action string `json:"action"`
	URL    string `json:"url"`
}

// createPayment emulates POST /v1/payments/create/json and, when redirect
// is set, POST /v1/payments/create/redirect (same body, HTML reply).
func (rz *razorpay) createPayment(w http.ResponseWriter, r *http.Request, redirect bool) error {
	b, e := rzpReadBody(w, r, false)
	if e == nil {
		e = b.extra(rzpPaymentFields...)
	}
	var in rzpPaymentInput
	if e == nil {
		in, e = rz.checkPaymentFields(b)
	}
	if e != nil {
		return rzpWriteError(w, e)
	}
	rz.mu.Lock()
	o := rz.orders[in.orderID]
	if e := rzpOrderAccepts(o, in); e != nil {
		rz.mu.Unlock()
		return rzpWriteError(w, e)
	}
	now := time.Now()
	p := &rzpPayment{
		Order:       o,
		Amount:      in.amount,
		Currency:    in.currency,
		Status:      rzpPayCreated,
		Email:       in.email,
		Contact:     in.contact,
		Description: in.description,
		Notes:       in.notes,
		CallbackURL: in.callbackURL,
		Via:         "json",
		CreatedAt:   now.Unix(),
		Created:     now.UTC(),
		Token:       randomHex(20),
		FormToken:   randomHex(16),
		Duplicate:   in.amount == rzpMagicDuplicate,
		LateAuth:    in.amount == rzpMagicLateAuth,
	}
	if redirect {
		p.Via = "redirect"
	}
	rz.insertPaymentLocked(p)
	var declined []rzpEvent
	if in.amount == rzpMagicDecline {
		p.Status, p.Failure = rzpPayFailed, &rzpBankFailed
		declined = append(declined, rz.eventLocked("payment.failed", p, nil))
	}
	rz.mu.Unlock()

	if declined != nil {
		rz.sendAsync(declined)
		e := rzpPaymentError(p, rzpBankFailed)
		return rzpWriteError(w, e)
	}
	if redirect {
		return rzpProcessingPage(w, rz.checkoutURL(r, p))
	}
	return rzpWriteJSON(w, http.StatusOK, rzpCreateReply{
		PaymentID: p.ID,
		Next:      []rzpNext{{Action: "poll", URL: rz.env.baseURL(r) + "/razorpay/v1/payments/" + p.ID + "/status"}},
	})
}

// insertPaymentLocked assigns an id, stores p and marks its order
// attempted. Caller holds rz.mu.
func (rz *razorpay) insertPaymentLocked(p *rzpPayment) {
	for {
		p.ID = rzpID("pay")
		if _, taken := rz.payments[p.ID]; !taken {
			break
		}
	}
	rz.payments[p.ID] = p
	rz.payList = append(rz.payList, p)
	rz.byToken[p.Token] = p
	o := p.Order
	o.Payments = append(o.Payments, p)
	o.Attempts++
	if o.Status == rzpOrderCreated {
		o.Status = rzpOrderAttempted
	}
}

// rzpPaymentError is the envelope of a failed payment, naming it in
// metadata as Razorpay's payment errors do (reference §7.1).
func rzpPaymentError(p *rzpPayment, f rzpFailure) *rzpError {
	return &rzpError{
		status:      http.StatusBadRequest,
		code:        f.Code,
		description: f.Description,
		source:      f.Source,
		step:        f.Step,
		reason:      f.Reason,
		metadata:    map[string]string{"payment_id": p.ID, "order_id": p.Order.ID},
	}
}

// checkPaymentFields validates the body of a create-payment request in
// the order of the field table; the order itself is checked under the lock
// by rzpOrderAccepts.
func (rz *razorpay) checkPaymentFields(b rzpBody) (rzpPaymentInput, *rzpError) {
	var in rzpPaymentInput
	var e *rzpError
	if in.amount, in.currency, e = rzpCheckAmountCurrency(b); e != nil {
		return in, e
	}
	if s, ok, e := b.str("order_id"); e != nil {
		return in, e
	} else if !ok || s == "" {
		return in, rzpBad("order_id", "The order_id field is required.")
	} else {
		in.orderID = s
	}
	if s, ok, e := b.str("email"); e != nil {
		return in, e
	} else if !ok || s == "" {
		return in, rzpBad("email", "The email field is required.")
	} else if len(s) > 40 {
		return in, rzpBad("email", "The email may not be greater than 40 characters.")
	} else if !validEmail(s) {
		return in, rzpBad("email", "The email must be a valid email address.")
	} else {
		in.email = s
	}
	if in.contact, e = rzpContact(b); e != nil {
		return in, e
	}
	method, _, e := b.str("method")
	switch {
	case e != nil:
		return in, e
	case method == "":
		return in, rzpBad("method", "The method field is required.")
	case method != "app":
		return in, rzpBad("method", "Invalid payment method given: the sandbox emulates only method app with provider trustly.")
	}
	provider, _, e := b.str("provider")
	switch {
	case e != nil:
		return in, e
	case provider == "":
		return in, rzpBad("provider", "The provider field is required when method is app.")
	case provider != "trustly":
		return in, rzpBad("provider", "Invalid provider given: the sandbox emulates only provider trustly.")
	}
	if s, ok, e := b.str("ip"); e != nil {
		return in, e
	} else if ok && net.ParseIP(s) == nil {
		return in, rzpBad("ip", "The ip must be a valid IP address.")
	}
	for _, name := range []string{"referer", "referrer", "user_agent", "customer_id"} {
		if _, _, e := b.str(name); e != nil {
			return in, e
		}
	}
	if s, ok, e := b.str("callback_url"); e != nil {
		return in, e
	} else if ok {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			return in, rzpBad("callback_url", "The callback_url must be a valid absolute http(s) URL.")
		}
		in.callbackURL = s
	}
	if s, ok, e := b.str("description"); e != nil {
		return in, e
	} else if ok {
		in.description = &s
	}
	if in.notes, e = b.notes(); e != nil {
		return in, e
	}
	if s, ok, e := b.str("key_id"); e != nil {
		return in, e
	} else if ok && s != rz.keyID {
		return in, rzpBad("key_id", "The api key provided is invalid")
	}
	return in, nil
}

// rzpContact reads the contact: a string, or the bare number of the
// documented Trustly sample; at most 15 characters including the country
// code, digits with an optional leading "+".
func rzpContact(b rzpBody) (string, *rzpError) {
	if !b.has("contact") {
		return "", rzpBad("contact", "The contact field is required.")
	}
	s, _, e := b.str("contact")
	if e != nil {
		n, _, e := b.integer("contact")
		if e != nil {
			return "", rzpBad("contact", "The contact must be a string or a number.")
		}
		s = strconv.FormatInt(n, 10)
	}
	digits := strings.TrimPrefix(s, "+")
	switch {
	case s == "":
		return "", rzpBad("contact", "The contact field is required.")
	case len(s) > 15:
		return "", rzpBad("contact", "The contact may not be greater than 15 characters.")
	case digits == "" || strings.Trim(digits, "0123456789") != "":
		return "", rzpBad("contact", "The contact format is invalid.")
	case len(digits) < 8:
		return "", rzpBad("contact", "Contact number should be at least 8 digits, including country code")
	}
	return s, nil
}

// rzpOrderAccepts checks that o exists, takes a new payment and matches
// the payment's amount and currency. Caller holds rz.mu.
func rzpOrderAccepts(o *rzpOrder, in rzpPaymentInput) *rzpError {
	if o == nil {
		e := rzpNotFound()
		e.field = "order_id"
		return e
	}
	if o.Status == rzpOrderPaid {
		return rzpBad("order_id", "Payment already done for this order.")
	}
	if rzpOrderSettled(o, nil) {
		return rzpBad("order_id", "A payment of this order is already authorized; a new payment is not allowed.")
	}
	if in.amount != o.Amount {
		return rzpBad("amount", "The payment amount must be equal to the order amount.")
	}
	if in.currency != o.Currency {
		return rzpBad("currency", "The payment currency must be the same as the order currency.")
	}
	return nil
}

// rzpOrderSettled reports whether o is paid or has an authorized (or
// later) payment other than except. Caller holds rz.mu.
func rzpOrderSettled(o *rzpOrder, except *rzpPayment) bool {
	if o.Status == rzpOrderPaid {
		return true
	}
	for _, p := range o.Payments {
		if p != except && (p.Status == rzpPayAuthorized || p.Status == rzpPayCaptured || p.Status == rzpPayRefunded) {
			return true
		}
	}
	return false
}

// fetchPayment emulates GET /v1/payments/<id>.
func (rz *razorpay) fetchPayment(w http.ResponseWriter, id string) error {
	rz.mu.Lock()
	p := rz.payments[id]
	var ent rzpPaymentEntity
	if p != nil {
		ent = p.entity()
	}
	rz.mu.Unlock()
	if p == nil {
		return rzpWriteError(w, rzpNotFound())
	}
	return rzpWriteJSON(w, http.StatusOK, ent)
}

// paymentStatus answers the poll URL of the create reply. Its contract is
// undocumented (reference §3.6); the sandbox answers like the Checkout
// fixture the reference cites: {"razorpay_payment_id"} once authorized,
// the payment's error envelope once failed, and {"status":"created"}
// while the customer has not decided. Clients should poll GET
// /v1/payments/<id> instead.
func (rz *razorpay) paymentStatus(w http.ResponseWriter, id string) error {
	rz.mu.Lock()
	p := rz.payments[id]
	var status string
	var failure rzpFailure
	if p != nil {
		status = p.Status
		if p.Failure != nil {
			failure = *p.Failure
		}
	}
	rz.mu.Unlock()
	switch {
	case p == nil:
		return rzpWriteError(w, rzpNotFound())
	case status == rzpPayFailed:
		return rzpWriteError(w, rzpPaymentError(p, failure))
	case status == rzpPayCreated:
		return rzpWriteJSON(w, http.StatusOK, map[string]string{"status": status})
	}
	return rzpWriteJSON(w, http.StatusOK, map[string]string{"razorpay_payment_id": id})
}

// capture emulates POST /v1/payments/<id>/capture {amount, currency}
// (reference §5.1), for orders created with manual capture.
func (rz *razorpay) capture(w http.ResponseWriter, r *http.Request, id string) error {
	b, e := rzpReadBody(w, r, false)
	if e == nil {
		e = b.extra("amount", "currency")
	}
	var amount int64
	var cur string
	if e == nil {
		amount, cur, e = rzpCheckAmountCurrency(b)
	}
	if e != nil {
		return rzpWriteError(w, e)
	}
	rz.mu.Lock()
	p := rz.payments[id]
	switch {
	case p == nil:
		e = rzpNotFound()
	case p.Status == rzpPayCaptured || p.Status == rzpPayRefunded:
		// Observed duplicate-capture reply: metadata names the bare id
		// (reference §5.1).
		e = rzpErrNA(http.StatusBadRequest, "This payment has already been captured")
		e.metadata = map[string]string{"payment_id": strings.TrimPrefix(p.ID, "pay_")}
	case p.Status != rzpPayAuthorized:
		e = rzpBad("", "Payment is not in authorized state.")
	case amount != p.Amount:
		e = rzpBad("amount", "Capture amount must be equal to the amount authorized")
	case cur != p.Currency:
		e = rzpBad("currency", "Currency should be same as payment currency")
	}
	if e != nil {
		rz.mu.Unlock()
		return rzpWriteError(w, e)
	}
	events := rz.captureLocked(p)
	ent := p.entity()
	rz.mu.Unlock()
	rz.sendAsync(events)
	return rzpWriteJSON(w, http.StatusOK, ent)
}
