package razorpay

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// envelope is Razorpay's error body (reference §7.1). field, source,
// step, reason and metadata may be absent or null.
type envelope struct {
	Error *envelopeError `json:"error"`
}

type envelopeError struct {
	Code        string          `json:"code"`
	Description string          `json:"description"`
	Field       string          `json:"field"`
	Source      string          `json:"source"`
	Step        string          `json:"step"`
	Reason      string          `json:"reason"`
	Metadata    json.RawMessage `json:"metadata"`
}

// Canonical names of the Razorpay request fields, per call, so an error
// naming a Razorpay field names what the merchant sent. A field with no
// canonical counterpart is reported as "razorpay.<field>".
var (
	createFields = map[string]string{
		"amount": "amount", "currency": "currency", "receipt": "reference", "notes": "metadata",
		"email": "customer.email", "contact": "customer.phone", "ip": "customer.ip",
		"referer": "customer.referer", "referrer": "customer.referer", "user_agent": "customer.user_agent",
		"description": "description",
	}
	refundFields = map[string]string{
		"amount": "amount", "receipt": "reference", "notes": "reason",
	}
)

// canonicalField maps a Razorpay field name ("" when none).
func canonicalField(field string, fields map[string]string) string {
	field = strings.TrimSpace(field)
	if field == "" {
		return ""
	}
	if f, ok := fields[field]; ok {
		return f
	}
	return "razorpay." + field
}

// replyError turns a non-2xx reply into the canonical error (reference
// §7.2):
//
//   - 401: bad API credentials, a gateway configuration fault
//     (provider_error, not retryable);
//   - 404 without an envelope: Razorpay's routing layer ("no Route
//     matched"), e.g. an on-demand feature that is not enabled; whether
//     anything happened is unknown (provider_error, request_sent unknown);
//   - 409: a refund with the same idempotency key is still being processed
//     (retryable; outcome unknown);
//   - 429: rate limited, nothing done (retryable);
//   - 5xx: the outcome is unknown (retryable for reads; the calls that
//     move money or create objects go through notIdempotent);
//   - 400 with an envelope naming a field, or reason
//     input_validation_failed / extra_field_sent: invalid_request with the
//     canonical field; "does not exist": not_found; any other 4xx
//     envelope: provider_declined. Razorpay answered, so request_sent yes.
func replyError(reply *providers.Reply, fields map[string]string) *providers.Error {
	status := reply.StatusCode
	var env envelope
	hasEnvelope := decodeEntity(reply.Body, &env) && env.Error != nil &&
		(env.Error.Code != "" || env.Error.Description != "")
	code, desc := "http_"+strconv.Itoa(status), http.StatusText(status)
	if hasEnvelope {
		code, desc = env.Error.Code, env.Error.Description
		if code == "" {
			code = "http_" + strconv.Itoa(status)
		}
	}
	switch {
	case status == http.StatusUnauthorized:
		e := providers.ProviderFault(code, desc, providers.SentYes, false)
		e.Message = "Razorpay refused the API credentials (check key_id and key_secret)"
		return e
	case status == http.StatusNotFound && !hasEnvelope:
		e := providers.ProviderFault(code, desc, providers.SentUnknown, false)
		e.Message = "Razorpay has no such route (is the feature enabled on the account?); the outcome is unknown"
		return e
	case status == http.StatusConflict:
		e := providers.ProviderFault(code, desc, providers.SentUnknown, true)
		e.Message = "Razorpay is still processing a request with the same idempotency key; retry later"
		return e
	case status == http.StatusTooManyRequests:
		e := providers.ProviderFault(code, desc, providers.SentYes, true)
		e.Message = "Razorpay rate-limited the request; nothing was done, retry with backoff"
		return e
	case status >= 500:
		e := providers.ProviderFault(code, desc, providers.SentUnknown, true)
		e.Message = "Razorpay answered with a server error; the outcome is unknown, retry later"
		return e
	case !hasEnvelope:
		return providers.ProviderFault(code, desc, providers.SentYes, false)
	}
	reason := env.Error.Reason
	field := canonicalField(env.Error.Field, fields)
	switch {
	case strings.Contains(strings.ToLower(desc), "requested url was not found"):
		// RD:errors/common: the on-demand feature is not enabled.
		e := providers.ProviderFault(code, desc, providers.SentYes, false)
		e.Message = "Razorpay refused the call as not enabled for this account (S2S / Trustly are on-demand features)"
		return e
	case strings.Contains(strings.ToLower(desc), "does not exist"):
		e := providers.NotFound("Razorpay does not know this object")
		e.ProviderCode, e.ProviderMessage, e.RequestSent = &code, &desc, providers.SentYes
		return e
	case field != "" || reason == "input_validation_failed" || reason == "extra_field_sent":
		e := &providers.Error{
			Type: providers.TypeInvalidRequest, Code: "invalid_field", Field: field,
			Message:      "Razorpay rejected the request: " + desc,
			ProviderCode: &code, ProviderMessage: &desc, RequestSent: providers.SentYes,
		}
		if field == "" {
			e.Code = "invalid_request"
		}
		return e
	}
	return providers.Declined(code, desc)
}

// notIdempotent adjusts the error of a call that creates something and
// that Razorpay offers no idempotency for (order create, payment create,
// a refund without X-Refund-Idempotency; reference §10): when the outcome
// is unknown (a 5xx, an unreadable reply, a timeout after the request was
// sent), repeating the call could create a second order, attempt or
// refund, so the error is not retryable and tells the merchant how to
// find out what happened first. Other errors pass unchanged.
func notIdempotent(err error, lookup string) error {
	e := providers.AsError(err)
	if e.RequestSent != providers.SentUnknown {
		return e
	}
	e.Retryable = false
	e.Message += "; Razorpay may have acted on it and a repeat is not safe: " + lookup
	return e
}
