package payabl

import (
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
// field, Go's url.Values.Get the first), and an amount or currency the
// gateway could not read (and so could not compare) is not there.
func (p *Provider) OriginalAuth(in *providers.IncomingNotification, n *providers.Notification) (http.Header, bool) {
	if n.Trust.Object != providers.SignedFields {
		return nil, false
	}
	form, err := url.ParseQuery(string(in.Body))
	if err != nil {
		return nil, false
	}
	seen := make(map[string]bool, len(form))
	for k, vs := range form {
		if len(vs) != 1 || !plainName(k) || seen[strings.ToLower(k)] {
			return nil, false
		}
		seen[strings.ToLower(k)] = true
	}
	if (seen["amount"] || seen["currency"]) && n.Currency == "" {
		return nil, false
	}
	return http.Header{}, true
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
