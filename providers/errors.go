package providers

import (
	"errors"
	"fmt"
	"net/http"
)

// Error types (PRODUCT.md, "Errors").
const (
	TypeInvalidRequest      = "invalid_request"
	TypeAuthentication      = "authentication"
	TypeForbidden           = "forbidden"
	TypeNotFound            = "not_found"
	TypeIdempotencyConflict = "idempotency_conflict"
	TypeProviderDeclined    = "provider_declined"
	TypeProviderError       = "provider_error"
	TypeProviderUnreachable = "provider_unreachable"
	TypeNotSupported        = "not_supported"
	TypeInternal            = "internal"
)

// Values of Error.RequestSent: whether a retry could double-charge.
const (
	SentNo      = "no"
	SentYes     = "yes"
	SentUnknown = "unknown"
)

// Error is the canonical error. It is both a Go error and the JSON body the
// gateway answers with (wrapped in {"error": …}). Message never holds a
// secret or a whole provider payload.
type Error struct {
	Type            string  `json:"type"`
	Code            string  `json:"code"`
	Message         string  `json:"message"`
	Field           string  `json:"field,omitempty"`
	Reference       string  `json:"reference,omitempty"`
	Provider        string  `json:"provider,omitempty"` // a routed create's: the account of its last attempt
	ProviderCode    *string `json:"provider_code"`
	ProviderMessage *string `json:"provider_message"`
	RequestSent     string  `json:"request_sent"`
	Retryable       bool    `json:"retryable"`

	// HTTPStatus is the status the gateway answers with; derived from Type
	// when zero.
	HTTPStatus int `json:"-"`
	// Timeout marks a provider call that timed out (504 rather than 502).
	Timeout bool `json:"-"`
}

func (e *Error) Error() string {
	if e.Field != "" && e.Code != "" {
		return fmt.Sprintf("%s (%s): %s", e.Type, e.Code, e.Message)
	}
	return e.Type + ": " + e.Message
}

// Status returns the HTTP status for the error.
func (e *Error) Status() int {
	if e.HTTPStatus != 0 {
		return e.HTTPStatus
	}
	switch e.Type {
	case TypeInvalidRequest:
		return http.StatusBadRequest
	case TypeAuthentication:
		return http.StatusUnauthorized
	case TypeForbidden:
		return http.StatusForbidden
	case TypeNotFound:
		return http.StatusNotFound
	case TypeIdempotencyConflict:
		return http.StatusConflict
	case TypeProviderDeclined:
		return http.StatusPaymentRequired
	case TypeProviderError:
		return http.StatusBadGateway
	case TypeProviderUnreachable:
		if e.Timeout {
			return http.StatusGatewayTimeout
		}
		return http.StatusBadGateway
	case TypeNotSupported:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// sentOrNo fills RequestSent with "no" when unset.
func (e *Error) normalise() *Error {
	if e.RequestSent == "" {
		e.RequestSent = SentNo
	}
	if e.Code == "" {
		e.Code = e.Type
	}
	return e
}

// Invalid is a validation error naming the field and the rule. Nothing was
// sent to the provider.
func Invalid(field, format string, args ...any) *Error {
	return (&Error{
		Type:    TypeInvalidRequest,
		Code:    "invalid_field",
		Field:   field,
		Message: fmt.Sprintf(format, args...),
	}).normalise()
}

// Missing is a validation error for a required field that is absent.
func Missing(field string) *Error {
	return (&Error{
		Type:    TypeInvalidRequest,
		Code:    "missing_field",
		Field:   field,
		Message: field + " is required",
	}).normalise()
}

// NotSupported reports an operation a provider does not offer.
func NotSupported(format string, args ...any) *Error {
	return (&Error{Type: TypeNotSupported, Code: "not_supported", Message: fmt.Sprintf(format, args...)}).normalise()
}

// NotFound reports an unknown object.
func NotFound(format string, args ...any) *Error {
	return (&Error{Type: TypeNotFound, Code: "not_found", Message: fmt.Sprintf(format, args...)}).normalise()
}

// Internal reports a gateway fault. The message is shown to the merchant,
// so callers pass a fixed description, never an underlying error text that
// could hold provider payloads.
func Internal(msg string) *Error {
	return (&Error{Type: TypeInternal, Code: "internal", Message: msg, RequestSent: SentNo}).normalise()
}

// Declined is a provider's business refusal (the request reached the
// provider and was answered).
func Declined(code, message string) *Error {
	return (&Error{
		Type: TypeProviderDeclined, Code: "provider_declined",
		Message:      "the provider declined the request",
		ProviderCode: &code, ProviderMessage: &message, RequestSent: SentYes,
	}).normalise()
}

// ProviderFault is a provider error reply (the provider answered, but with an
// error that is not a business decline: bad credentials, 5xx, garbage).
// retryable says whether trying again later can help.
func ProviderFault(code, message, sent string, retryable bool) *Error {
	e := &Error{
		Type: TypeProviderError, Code: "provider_error",
		Message:     "the provider answered with an error",
		RequestSent: sent, Retryable: retryable,
	}
	if code != "" {
		e.ProviderCode = &code
	}
	if message != "" {
		e.ProviderMessage = &message
	}
	return e.normalise()
}

// Garbage is a provider reply that could not be understood. The request was
// sent, but its outcome is unknown.
func Garbage(what string) *Error {
	return (&Error{
		Type: TypeProviderError, Code: "invalid_provider_reply",
		Message:     "the provider's reply could not be understood: " + what,
		RequestSent: SentUnknown, Retryable: false,
	}).normalise()
}

// AsError converts any error into a canonical *Error (an unknown error
// becomes a generic internal error whose text is not shown).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e.normalise()
	}
	return Internal("internal error")
}

// ErrUnauthenticated is returned by notification verification when a
// notification's signature or credentials do not verify. The gateway
// answers 401 and never forwards it.
var ErrUnauthenticated = errors.New("notification failed authentication")
