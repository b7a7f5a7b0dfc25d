package caddymodule

import (
	"errors"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
)

// serveReturn is GET/POST /returns/{name}: the customer's browser coming
// back from the provider. Where the provider signs the return it is
// verified first; the customer is then redirected (303) to the merchant's
// success or failure URL (or return_url) with the canonical payment_id
// added. The redirect says nothing authoritative about the outcome: the
// status comes from notifications or GET /payments/{id}.
func (h *Handler) serveReturn(w http.ResponseWriter, r *http.Request, c call) error {
	name := c.arg
	p := h.providers[name]
	if p == nil {
		return writeError(w, providers.NotFound("no provider account named %q", name))
	}
	ret, ok := p.(providers.Returner)
	if !ok {
		return writeError(w, providers.NotFound("provider %s sends customers straight back to the merchant's URLs", name))
	}
	var body []byte
	if r.Method == http.MethodPost {
		var e *providers.Error
		if body, e = h.readBody(w, r); e != nil {
			return writeError(w, e)
		}
	}
	ref, success, err := ret.VerifyReturn(r.Context(), h.doer, &providers.IncomingNotification{
		Method: r.Method, Header: r.Header, Query: r.URL.Query(), Body: body,
	})
	if err != nil {
		if errors.Is(err, providers.ErrUnauthenticated) {
			h.logger.Warn("customer return failed verification", zap.String("provider", name), zap.String("remote_addr", r.RemoteAddr))
			return writeError(w, &providers.Error{Type: providers.TypeAuthentication, Code: "invalid_signature",
				Message: "the return could not be verified", RequestSent: providers.SentNo})
		}
		return writeError(w, err)
	}
	id := providers.EncodeID(providers.KindPayment, name, ref)
	rec, err := h.store.GetPayment(r.Context(), id)
	if err != nil {
		return writeError(w, providers.NotFound("no payment on record for this return"))
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
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
	return nil
}
