package paysage

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// fieldError is one leaf of PaySage's nested "errors" map: the path to it
// ("request.customer.email") and its messages.
type fieldError struct {
	Path     string
	Messages []string
}

// flattenErrors walks PaySage's "errors" value, a nested map whose leaves
// are arrays of strings (reference §4.3), into path-ordered leaves. A leaf
// that is a bare string is accepted too. Depth is capped so a hostile reply
// cannot recurse without end; so are the length of a path (a longer one is
// no PaySage field and is skipped) and the number of leaves, so that one
// long key over many children cannot make the paths grow with the square of
// the reply.
func flattenErrors(raw json.RawMessage) []fieldError {
	const maxPath, maxLeaves = 256, 64
	var out []fieldError
	var walk func(raw json.RawMessage, path string, depth int)
	walk = func(raw json.RawMessage, path string, depth int) {
		if depth > 8 || len(out) >= maxLeaves || !present(raw) {
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil {
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if len(path)+1+len(k) > maxPath {
					continue
				}
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(obj[k], p, depth+1)
			}
			return
		}
		var msgs []string
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil {
			for _, item := range list {
				if s := jsonText(item); s != "" {
					msgs = append(msgs, s)
				}
			}
		} else if s := jsonText(raw); s != "" {
			msgs = []string{s}
		}
		if len(msgs) > 0 && path != "" {
			out = append(out, fieldError{Path: path, Messages: msgs})
		}
	}
	walk(raw, "", 0)
	return out
}

// canonicalFields maps PaySage request paths (without the "request."
// envelope) to canonical field names, so an error points at what the
// merchant sent. Card-API style billing_address.* paths are included
// because the platform reports some customer errors there.
var canonicalFields = map[string]string{
	"amount":                     "amount",
	"currency":                   "currency",
	"description":                "description",
	"tracking_id":                "reference",
	"language":                   "language",
	"return_url":                 "return_url",
	"ip":                         "customer.ip",
	"email":                      "customer.email",
	"customer.ip":                "customer.ip",
	"customer.first_name":        "customer.first_name",
	"customer.last_name":         "customer.last_name",
	"customer.country":           "customer.country",
	"customer.external_id":       "customer.id",
	"customer.email":             "customer.email",
	"customer.phone":             "customer.phone",
	"customer.city":              "customer.address.city",
	"customer.address":           "customer.address.line1",
	"customer.zip":               "customer.address.postal_code",
	"customer.birth_date":        "customer.birth_date",
	"billing_address.first_name": "customer.first_name",
	"billing_address.last_name":  "customer.last_name",
	"billing_address.country":    "customer.country",
	"billing_address.city":       "customer.address.city",
	"billing_address.address":    "customer.address.line1",
	"billing_address.zip":        "customer.address.postal_code",
	"billing_address.phone":      "customer.phone",
	"parent_uid":                 "payment_id",
	"reason":                     "reason",
}

// canonicalField maps a PaySage error path to the canonical field name,
// or returns the path without the envelope when there is none (so it is
// still preserved).
func canonicalField(path string) string {
	p := strings.TrimPrefix(path, "request.")
	if c, ok := canonicalFields[p]; ok {
		return c
	}
	return p
}

// errorDetail is the message and errors of an error reply, from the top
// level or from the legacy {"response":{…}} wrapper.
type errorDetail struct {
	Message string
	Errors  []fieldError
}

// detail extracts the message and errors of an error reply. The message is
// taken from .message, then .response.message (the PHP SDK's order).
func (e *envelope) detail() errorDetail {
	d := errorDetail{Message: jsonText(e.Message), Errors: flattenErrors(e.Errors)}
	if present(e.Response) {
		var inner envelope
		if json.Unmarshal(e.Response, &inner) == nil {
			if d.Message == "" {
				d.Message = jsonText(inner.Message)
			}
			if len(d.Errors) == 0 {
				d.Errors = flattenErrors(inner.Errors)
			}
		}
	}
	d.Message = clip(d.Message)
	return d
}

// isError reports whether a reply is an error by the normaliser rule
// (reference §4.3): HTTP ≥ 400, or no transaction but errors/response.
func (e *envelope) isError(status int) bool {
	return status >= 400 || (!present(e.Transaction) && !present(e.Transactions) &&
		(present(e.Errors) || present(e.Response) || present(e.Message)))
}

// clip bounds provider text carried in canonical errors.
func clip(s string) string {
	const max = 300
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// replyError turns an error reply into the canonical error:
//
//	401/403 (bad shop_id/secret_key)     → provider_error, not retryable
//	429, 5xx                             → provider_error, retryable (a 5xx
//	                                       to a payment or refund create is
//	                                       then an unknown outcome: see
//	                                       outcomeUnknown)
//	errors on request fields (422)       → invalid_request naming the
//	                                       canonical field; provider_code
//	                                       is PaySage's own path
//	errors.base only ("can't be refunded") → provider_declined, code "base"
//	anything else                        → provider_error
//
// request_sent is always "yes": PaySage answered, so it received the
// request (and refused it).
func replyError(status int, env *envelope) *providers.Error {
	d := env.detail()
	httpCode := "http_" + strconv.Itoa(status)
	msg := d.Message
	if msg == "" && status >= 400 {
		msg = http.StatusText(status)
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return providers.ProviderFault(httpCode, msg, providers.SentYes, false)
	case status == http.StatusTooManyRequests || status >= 500:
		return providers.ProviderFault(httpCode, msg, providers.SentYes, true)
	}
	var fields, base, other []fieldError
	for _, fe := range d.Errors {
		switch p := strings.TrimPrefix(fe.Path, "request."); {
		case p == "base":
			base = append(base, fe)
		case p == "system":
			other = append(other, fe)
		default:
			fields = append(fields, fe)
		}
	}
	switch {
	case len(fields) > 0:
		return fieldRejection(fields, msg)
	case len(base) > 0:
		text := msg
		if text == "" {
			text = clip(strings.Join(base[0].Messages, "; "))
		}
		return providers.Declined("base", text)
	case len(other) > 0:
		if msg == "" {
			msg = clip(strings.Join(other[0].Messages, "; "))
		}
		return providers.ProviderFault(other[0].Path, msg, providers.SentYes, false)
	case status < 400:
		return providers.Garbage("PaySage reply has neither a transaction nor a recognisable error")
	}
	return providers.ProviderFault(httpCode, msg, providers.SentYes, false)
}

// outcomeUnknown rewrites the error of a payment or refund create whose
// reply says nothing reliable about the outcome: a 5xx (PaySage may have
// created the object before failing) or a reply that cannot be read. No
// idempotency key is sent unless the merchant gave one, so a blind retry
// could move the money twice: the error says request_sent "unknown", is
// not retryable, and tells the merchant to look the object up by
// reference first. Any other error is returned as it is.
func outcomeUnknown(err error, status int, lookup string) error {
	e := providers.AsError(err)
	if status < 500 && e.Code != "invalid_provider_reply" {
		return err
	}
	out := *e
	out.RequestSent, out.Retryable = providers.SentUnknown, false
	if status >= 500 {
		out.Message = fmt.Sprintf("PaySage answered with HTTP %d, so whether it acted on the request is unknown: do not retry blindly; %s", status, lookup)
	} else {
		out.Message = e.Message + "; whether PaySage acted on the request is unknown: do not retry blindly; " + lookup
	}
	return &out
}

// noBlindRetry makes a transport error whose outcome is unknown (a
// timeout or a connection lost after sending) not retryable when the call
// carried no idempotency key (PaySage's RequestID): a blind retry could
// move the money twice. Other errors are returned as they are.
func noBlindRetry(err error, keyed bool, lookup string) error {
	e := providers.AsError(err)
	if keyed || e.RequestSent != providers.SentUnknown || !e.Retryable {
		return err
	}
	out := *e
	out.Retryable = false
	out.Message = e.Message + "; whether PaySage acted on the request is unknown: do not retry blindly; " + lookup
	return &out
}

// Lookup advice for outcomeUnknown.
const (
	lookupPayment = "look the payment up by its reference (GET /payments?provider=<account>&reference=<reference>) before creating it again"
	lookupRefund  = "look the refund up by its reference (tracking_id) in PaySage's back office, or the payment with GET /payments/{id}, before refunding again; the amount stays reserved"
)

// fieldRejection is PaySage refusing request fields: an invalid_request
// error naming the first field (canonical name) and listing the others.
func fieldRejection(fields []fieldError, providerMsg string) *providers.Error {
	first := fields[0]
	raw := first.Path
	text := fmt.Sprintf("PaySage rejected %s: %s", raw, clip(strings.Join(first.Messages, "; ")))
	if n := len(fields) - 1; n > 0 {
		names := make([]string, 0, n)
		for _, f := range fields[1:] {
			names = append(names, f.Path)
		}
		text += fmt.Sprintf(" (and %d more: %s)", n, clip(strings.Join(names, ", ")))
	}
	if providerMsg == "" {
		providerMsg = clip(strings.Join(first.Messages, "; "))
	}
	return &providers.Error{
		Type:            providers.TypeInvalidRequest,
		Code:            "provider_rejected_field",
		Message:         text,
		Field:           canonicalField(raw),
		ProviderCode:    &raw,
		ProviderMessage: &providerMsg,
		RequestSent:     providers.SentYes,
	}
}

// decodeReply decodes any reply body. A body that is not a JSON object is
// garbage on a 2xx (the outcome is unknown) and a plain provider error
// otherwise (a proxy's HTML error page, say).
func decodeReply(r *providers.Reply) (*envelope, error) {
	var env envelope
	if !decodeEnvelope(r.Body, &env) {
		if r.StatusCode >= 200 && r.StatusCode < 300 {
			return nil, providers.Garbage("PaySage reply is not JSON")
		}
		return nil, replyError(r.StatusCode, &envelope{})
	}
	return &env, nil
}

// transactionReply returns the transaction of a successful reply, or the
// canonical error of an error reply.
func transactionReply(r *providers.Reply) (*transaction, error) {
	env, err := decodeReply(r)
	if err != nil {
		return nil, err
	}
	if env.isError(r.StatusCode) || !present(env.Transaction) {
		return nil, replyError(r.StatusCode, env)
	}
	return env.transactionOf()
}
