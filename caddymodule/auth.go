package caddymodule

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-payments/caddy-payments/providers"
)

// API key scopes (PRODUCT.md, "Scoped API keys"). events:read covers GET
// /events and GET /events/{id}, events:write POST /events/{id}/redeliver.
const (
	ScopePaymentsRead  = "payments:read"
	ScopePaymentsWrite = "payments:write"
	ScopeRefundsWrite  = "refunds:write"
	ScopePayoutsWrite  = "payouts:write"
	ScopeEventsRead    = "events:read"
	ScopeEventsWrite   = "events:write"
)

// allScopes lists every scope an api_key may name.
var allScopes = []string{ScopePaymentsRead, ScopePaymentsWrite, ScopeRefundsWrite, ScopePayoutsWrite, ScopeEventsRead, ScopeEventsWrite}

// apiTokenName is the created_by of objects made with an api_token (which
// has every scope); no api_key may take this name.
const apiTokenName = "api_token"

// APIKey is a named API key limited to some scopes (Caddyfile:
// `api_key <name> <token> <scope>...`).
type APIKey struct {
	// The key's name, 1-64 characters of a-z, 0-9, _ or -, unique among
	// the keys ("api_token" is reserved). It is what the refunds and
	// payouts the key creates carry as created_by and what the log lines
	// name; the token never is.
	Name string `json:"name"`

	// The Bearer token, at least 16 characters, distinct from every other
	// key's and api_token's. Placeholders such as {env.PAYMENTS_KEY_SHOP}
	// or {file./run/secrets/k} are resolved at provision time.
	Token string `json:"token"`

	// What the key may do, at least one of: payments:read (GET /payments,
	// /payments/{id}, /refunds/{id}, /payouts/{id}, /providers),
	// payments:write (POST /payments), refunds:write (POST
	// /payments/{id}/refunds), payouts:write (POST /payouts), events:read
	// (GET /events, /events/{id}), events:write (POST /events/{id}/redeliver).
	Scopes []string `json:"scopes"`
}

// apiKey is a provisioned key: its name, the SHA-256 of its token (compared
// in constant time, so neither the token's length nor which key matched
// shows in the timing) and its scopes (nil: every scope).
type apiKey struct {
	name   string
	hash   [sha256.Size]byte
	scopes map[string]bool
}

// anonymous is the caller with `api_token off`: every scope, no name.
var anonymous = &apiKey{}

func (k *apiKey) allows(scope string) bool {
	return k.scopes == nil || k.scopes[scope]
}

func knownScope(s string) bool {
	for _, k := range allScopes {
		if s == k {
			return true
		}
	}
	return false
}

// provisionKeys resolves api_token and api_key tokens into h.keys and
// refuses a key with a bad name, a duplicate name, an empty, short or
// shared token, or an unknown scope. Errors name the key, never its token.
func (h *Handler) provisionKeys(repl *caddy.Replacer) error {
	h.keys = nil
	owner := map[[sha256.Size]byte]string{}
	for i, t := range h.APITokens {
		v, err := repl.ReplaceOrErr(t, true, true)
		if err != nil {
			return fmt.Errorf("resolving api_token %d: %w", i+1, err)
		}
		h.tokens = append(h.tokens, []byte(v))
		k := apiKey{name: apiTokenName, hash: sha256.Sum256([]byte(v))}
		owner[k.hash] = apiTokenName
		h.keys = append(h.keys, k)
	}
	names := map[string]bool{}
	for i, ak := range h.APIKeys {
		switch {
		case !validBlockName(ak.Name):
			return fmt.Errorf("api_key %d: the name %q must be 1-64 characters of a-z, 0-9, _ or -", i+1, ak.Name)
		case ak.Name == apiTokenName:
			return fmt.Errorf("api_key %d: the name %s is reserved for api_token", i+1, apiTokenName)
		case names[ak.Name]:
			return fmt.Errorf("api_key %s: duplicate name: each api_key needs its own name", ak.Name)
		case ak.Token == "":
			return fmt.Errorf("api_key %s: the token is empty", ak.Name)
		case len(ak.Scopes) == 0:
			return fmt.Errorf("api_key %s: at least one scope is required (%s)", ak.Name, strings.Join(allScopes, ", "))
		}
		names[ak.Name] = true
		v, err := repl.ReplaceOrErr(ak.Token, true, true)
		if err != nil {
			return fmt.Errorf("resolving api_key %s token: %w", ak.Name, err)
		}
		if len(v) < 16 {
			return fmt.Errorf("api_key %s: the token must be at least 16 characters", ak.Name)
		}
		k := apiKey{name: ak.Name, hash: sha256.Sum256([]byte(v)), scopes: map[string]bool{}}
		if other, dup := owner[k.hash]; dup {
			return fmt.Errorf("api_key %s: the token is also %s's: every key needs its own token", ak.Name, other)
		}
		owner[k.hash] = ak.Name
		for _, s := range ak.Scopes {
			if !knownScope(s) {
				return fmt.Errorf("api_key %s: unknown scope %q (known: %s)", ak.Name, s, strings.Join(allScopes, ", "))
			}
			k.scopes[s] = true
		}
		h.keys = append(h.keys, k)
	}
	return nil
}

// authenticate checks the canonical API's Bearer token against every
// configured api_token and api_key and returns the key it belongs to. The
// SHA-256 of the presented token is compared in constant time with every
// key's (all are compared, so timing reveals neither which one matched,
// nor how many there are, nor their lengths). With `api_token off` every
// caller is anonymous, with every scope.
func (h *Handler) authenticate(r *http.Request) (*apiKey, *providers.Error) {
	if h.DisableAPIToken {
		return anonymous, nil
	}
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, &providers.Error{Type: providers.TypeAuthentication, Code: "missing_token",
			Message: "an Authorization: Bearer <api_token> header is required", RequestSent: providers.SentNo}
	}
	sum := sha256.Sum256([]byte(token))
	match, idx := 0, 0
	for i := range h.keys {
		eq := subtle.ConstantTimeCompare(sum[:], h.keys[i].hash[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		match |= eq
	}
	if match != 1 {
		return nil, &providers.Error{Type: providers.TypeAuthentication, Code: "invalid_token",
			Message: "the API token is not valid", RequestSent: providers.SentNo}
	}
	return &h.keys[idx], nil
}

// forbidden is the 403 for a key that lacks the scope an operation needs.
func forbidden(name, scope, what string) *providers.Error {
	return &providers.Error{Type: providers.TypeForbidden, Code: "insufficient_scope",
		Message:     fmt.Sprintf("the API key %q may not %s: that needs the scope %s", name, what, scope),
		RequestSent: providers.SentNo}
}
