package payabl

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

var _ providers.OriginalAuthenticator = (*Provider)(nil)

// OriginalAuth implements providers.OriginalAuthenticator. payabl.'s
// security is a field of the body, so no header goes with the original.
// It authenticates the original only when the 64-hex SHA-256 security
// was verified (a 40-hex one cannot be) and the form cannot be read
// differently by the shop than by the gateway: every field name is
// [A-Za-z0-9_]+ (PHP turns '.', ' ' and '[' in names into '_' or arrays)
// and given once, also ignoring case (PHP keeps the last of a repeated
// field, Go's url.Values.Get the first), a field the gateway reads is
// named exactly as payabl. names it (lower case), an amount or currency
// the gateway could not read (and so could not compare) is not there,
// and a payment_state, if any, is a documented one that says what the
// forwarded event says.
func (p *Provider) OriginalAuth(in *providers.IncomingNotification, n *providers.Notification) (http.Header, bool) {
	if n.Trust.Object != providers.SignedFields {
		return nil, false
	}
	// A charset the gateway does not read the form in (ASP.NET decodes
	// form values by the declared one: utf-7, …) could make the shop
	// read other values than were verified.
	if _, params, err := mime.ParseMediaType(in.Header.Get("Content-Type")); err == nil {
		if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "iso-8859-1" && cs != "us-ascii" {
			return nil, false
		}
	}
	form, err := url.ParseQuery(string(in.Body))
	if err != nil {
		return nil, false
	}
	seen := make(map[string]bool, len(form))
	for k, vs := range form {
		lower := strings.ToLower(k)
		if len(vs) != 1 || !plainName(k) || seen[lower] {
			return nil, false
		}
		// payabl. names its fields in lower case, and the gateway reads
		// them so: a case variant of one (ORDERID) is a field the
		// gateway never read but a case-insensitive form reader (ASP.NET's
		// Request.Form, …) takes for the real one.
		if claimFields[lower] && k != lower {
			return nil, false
		}
		seen[lower] = true
	}
	if (seen["amount"] || seen["currency"]) && n.Currency == "" {
		return nil, false
	}
	// payment_state is unsigned: the original may carry it only when it
	// says what the forwarded event says. A value payabl. does not
	// document, or one that claims more than the gateway established
	// (credited beside a signed 2000 "pending"), would be read by the
	// shop as a fact nobody checked.
	if seen["payment_state"] && strings.HasPrefix(n.EventType, "payment.") {
		if want, ok := paymentStateEvent[form.Get("payment_state")]; !ok || want != n.EventType {
			return nil, false
		}
	}
	return http.Header{}, true
}

// claimFields are the fields of payabl.'s notification the gateway reads.
var claimFields = map[string]bool{
	"amount": true, "currency": true, "errorcode": true, "errormessage": true, "orderid": true,
	"payment_state": true, "security": true, "timestamp": true, "transactionid": true, "type": true,
}

// paymentStateEvent is the event each documented payment_state means.
var paymentStateEvent = map[string]string{
	"not_credited_yet": "payment.processing",
	"credited":         "payment.succeeded",
	"not_credited":     "payment.failed",
}

// plainName reports whether a form field name is [A-Za-z0-9_]+.
func plainName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
