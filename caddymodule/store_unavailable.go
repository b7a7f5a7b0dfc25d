package caddymodule

import (
	"net/http"

	"github.com/caddy-payments/caddy-payments/providers"
)

// storeUnavailable is the answer to a request refused because the state
// store could not be read or written before anything was sent to a
// provider (a networked store unreachable, say): 503, request_sent "no",
// retryable, so a merchant retries it as it is, with the same
// Idempotency-Key.
func storeUnavailable(msg string) *providers.Error {
	return &providers.Error{Type: providers.TypeInternal, Code: "store_unavailable", Message: msg,
		RequestSent: providers.SentNo, Retryable: true, HTTPStatus: http.StatusServiceUnavailable}
}
