package providers

import (
	"encoding/base64"
	"strings"
)

// Canonical object id prefixes.
const (
	KindPayment = "pay"
	KindRefund  = "re"
	KindPayout  = "po"
	KindEvent   = "evt"
)

// EncodeID builds the public canonical id of an object: a prefix naming the
// kind, then the provider block name and the provider's own reference,
// base64url-encoded. It embeds no amount and no secret, and any gateway
// instance with the same configuration can decode it, so
// GET /payments/{id} works on an instance that never saw the create.
func EncodeID(kind, account, providerRef string) string {
	return kind + "_" + base64.RawURLEncoding.EncodeToString([]byte(account+"\x00"+providerRef))
}

// DecodeID reverses EncodeID for the expected kind. ok is false for an id
// of another kind or one that does not decode.
func DecodeID(kind, id string) (account, providerRef string, ok bool) {
	rest, found := strings.CutPrefix(id, kind+"_")
	if !found || rest == "" || len(rest) > 1024 {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", "", false
	}
	account, providerRef, found = strings.Cut(string(raw), "\x00")
	if !found || account == "" || providerRef == "" {
		return "", "", false
	}
	return account, providerRef, true
}
