package caddymodule

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/caddy-payments/caddy-payments/providers"
)

// authenticate checks the canonical API's Bearer token in constant time
// against every configured token (all are compared, so timing does not
// reveal which one matched or how many there are).
func (h *Handler) authenticate(r *http.Request) *providers.Error {
	if h.DisableAPIToken {
		return nil
	}
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return &providers.Error{Type: providers.TypeAuthentication, Code: "missing_token",
			Message: "an Authorization: Bearer <api_token> header is required", RequestSent: providers.SentNo}
	}
	match := 0
	for _, t := range h.tokens {
		match |= subtle.ConstantTimeCompare([]byte(token), t)
	}
	if match != 1 {
		return &providers.Error{Type: providers.TypeAuthentication, Code: "invalid_token",
			Message: "the API token is not valid", RequestSent: providers.SentNo}
	}
	return nil
}
