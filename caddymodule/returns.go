package caddymodule

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
)

// The query parameters of the return URL the gateway gives providers
// (CreatePayment.GatewayReturnURL): the payment's merchant reference and
// a token over it that only this gateway can make.
const (
	returnRefParam   = "reference"
	returnTokenParam = "return_token"
)

// returnTokenLen is the length of a return token in bytes (128 bits of
// HMAC-SHA256, base64url without padding).
const returnTokenLen = 16

// returnURL is the return URL for a payment of provider account name with
// the merchant reference ref: <public_url>/returns/<name>?reference=<ref>&
// return_token=<token>. The token is an HMAC over the public URL, the
// account and the reference, so any instance with the same config can
// check it without shared state, it holds no secret, and it cannot be
// moved to another reference or account.
func (h *Handler) returnURL(name, ref string) string {
	q := url.Values{returnRefParam: {ref}}
	if len(h.fwdKeys) > 0 {
		q.Set(returnTokenParam, base64.RawURLEncoding.EncodeToString(h.returnToken(h.fwdKeys[0], name, ref)))
	}
	return h.endpointURL("/returns/"+name) + "?" + q.Encode()
}

// returnToken computes the token with a key derived from one forward
// secret (so the secret itself signs nothing but events): the first
// forward secret makes tokens, every one checks them, and rotating
// forward secrets keeps returns of payments made before working while the
// old secret stays listed.
func (h *Handler) returnToken(fwdKey []byte, name, ref string) []byte {
	k := hmac.New(sha256.New, fwdKey)
	k.Write([]byte("caddy-payments return token v1"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(h.publicURL.String() + "\x00" + name + "\x00" + ref))
	return m.Sum(nil)[:returnTokenLen]
}

// checkReturnToken returns the reference a return URL names when it
// carries exactly one reference and one token, and the token is one this
// gateway made for it and the account name.
func (h *Handler) checkReturnToken(name string, q url.Values) (string, bool) {
	if len(q[returnRefParam]) != 1 || len(q[returnTokenParam]) != 1 {
		return "", false
	}
	ref := q.Get(returnRefParam)
	got, err := base64.RawURLEncoding.DecodeString(q.Get(returnTokenParam))
	if err != nil || len(got) != returnTokenLen || ref == "" {
		return "", false
	}
	for _, k := range h.fwdKeys {
		if hmac.Equal(got, h.returnToken(k, name, ref)) {
			return ref, true
		}
	}
	return "", false
}

// invalidReturn is the one answer to every return the gateway cannot tie
// to a payment it made the return URL for: no token, a forged or altered
// one, an unknown account, or a provider verification that fails. It is
// the same status and body whatever the request names, so the route tells
// nobody which payments exist, and it costs no provider call.
func (h *Handler) invalidReturn(w http.ResponseWriter, r *http.Request, name, reason string) error {
	h.logger.Info("customer return refused", zap.String("provider", name), zap.String("reason", reason),
		zap.String("remote_addr", r.RemoteAddr))
	w.Header().Set("Cache-Control", "no-store")
	return writeError(w, &providers.Error{Type: providers.TypeAuthentication, Code: "invalid_return",
		Message:     "this return link is not valid; go back to the shop to see the status of your order",
		RequestSent: providers.SentNo})
}

// serveReturn is GET/POST /returns/{name}: the customer's browser coming
// back from the provider.
//
// Only what the gateway put in the return URL is trusted: the return must
// carry the reference and return_token of returnURL, or it gets the
// generic invalidReturn answer, before any provider call. A genuine return
// is then checked by the provider (a signature where the provider signs
// returns; PaySage fetches the payment by the reference, once), and the
// payment it names must be the token's (same account and reference);
// anything the browser adds, such as PaySage's uid, is never preferred
// over it. The customer is then redirected (303) to the merchant's success
// or failure URL (or return_url) with the canonical payment_id added. The
// redirect says nothing authoritative about the outcome: the status comes
// from notifications or GET /payments/{id}.
func (h *Handler) serveReturn(w http.ResponseWriter, r *http.Request, c call) error {
	name := c.arg
	reference, ok := h.checkReturnToken(name, r.URL.Query())
	if !ok {
		return h.invalidReturn(w, r, name, "no valid return_token")
	}
	ret, isReturner := h.providers[name].(providers.Returner)
	if !isReturner {
		return h.invalidReturn(w, r, name, "the account takes no returns")
	}
	var body []byte
	if r.Method == http.MethodPost {
		var e *providers.Error
		if body, e = h.readBody(w, r); e != nil {
			return writeError(w, e)
		}
	}
	ref, success, err := ret.VerifyReturn(r.Context(), h.call(name, opVerifyReturn), &providers.IncomingNotification{
		Method: r.Method, Header: r.Header, Query: r.URL.Query(), Body: body,
	})
	if err != nil {
		if errors.Is(err, providers.ErrUnauthenticated) {
			return h.invalidReturn(w, r, name, "the provider's verification failed")
		}
		return writeError(w, err)
	}
	id := providers.EncodeID(providers.KindPayment, name, ref)
	rec, err := h.store.GetPayment(r.Context(), id)
	if err != nil {
		return h.invalidReturn(w, r, name, "no payment on record")
	}
	if rec.Provider != name || rec.Reference != reference {
		h.logger.Warn("customer return names another payment than its return_token", zap.String("provider", name),
			zap.String("payment_id", id), zap.String("remote_addr", r.RemoteAddr))
		return h.invalidReturn(w, r, name, "another payment than the token's")
	}
	target := rec.ReturnURL
	switch {
	case success && rec.SuccessURL != "":
		target = rec.SuccessURL
	case !success && rec.FailureURL != "":
		target = rec.FailureURL
	}
	if target == "" {
		target = rec.SuccessURL
	}
	u, err := url.Parse(target)
	if err != nil || target == "" {
		return writeError(w, providers.NotFound("the payment has no URL to return the customer to"))
	}
	q := u.Query()
	q.Set("payment_id", id)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
	return nil
}
