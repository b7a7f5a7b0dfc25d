package caddymodule

import (
	"context"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// servePayments is /payments: POST creates, GET finds by reference, or
// lists the recorded payments without one (api_events.go).
func (h *Handler) servePayments(w http.ResponseWriter, r *http.Request, c call) error {
	if r.Method == http.MethodGet {
		if !r.URL.Query().Has("reference") {
			return h.serveListPayments(w, r)
		}
		return h.serveFindPayment(w, r)
	}
	return h.serveCreatePayment(w, r)
}

// serveCreatePayment is POST /payments.
func (h *Handler) serveCreatePayment(w http.ResponseWriter, r *http.Request) error {
	body, e := h.readBody(w, r)
	if e != nil {
		return writeError(w, e)
	}
	var req providers.CreatePayment
	if e := decodeStrict(body, &req); e != nil {
		return writeError(w, e)
	}
	if e := validatePayment(&req); e != nil {
		e.Reference = req.Reference
		return writeError(w, e)
	}
	// From the provider call on, nothing depends on the client's
	// connection: a client that goes away neither cancels the create
	// (whose outcome would become unknown) nor the writes after it.
	ctx := context.WithoutCancel(r.Context())
	var (
		name string
		pay  *providers.Payment
	)
	if i := h.routeFor(&req); i >= 0 {
		// A routed create (routing.go): the account that answered, or
		// whose error ends it, is named in the error too.
		var e *providers.Error
		name, pay, req, e = h.createRouted(ctx, r, i, &req)
		if e != nil {
			e.Reference = req.Reference
			e.Provider = name
			h.logger.Info("payment not created", zap.String("provider", name), zap.String("reference", req.Reference),
				zap.String("type", e.Type), zap.String("code", e.Code), zap.String("request_sent", e.RequestSent))
			return writeError(w, e)
		}
	} else {
		n, p, e := h.provider(req.Provider)
		if e != nil {
			e.Reference = req.Reference
			return writeError(w, e)
		}
		if e := h.checkAccount(n, p, &req); e != nil {
			e.Reference = req.Reference
			return writeError(w, e)
		}
		var err error
		name = n
		if pay, err = h.createAt(ctx, r, name, p, &req); err != nil {
			e := providers.AsError(err)
			e.Reference = req.Reference
			h.logger.Info("payment not created", zap.String("provider", name), zap.String("reference", req.Reference),
				zap.String("type", e.Type), zap.String("code", e.Code), zap.String("request_sent", e.RequestSent))
			return writeError(w, e)
		}
	}
	h.completePayment(name, pay)
	if pay.Reference == "" {
		pay.Reference = req.Reference
	}
	// The record, its reconcile check, its launch token and the stored
	// answer to an Idempotency-Key are one write (Store.Commit), durable
	// before the answer is sent.
	wr := &store.Writes{Checks: h.checksFor(r, name, pay.ID, pay.Status.Final())}
	if pay.LaunchData != "" {
		wr.Once = []store.OnceWrite{h.launchOnce(name, pay)}
	}
	wr.Payment = &store.PaymentRecord{
		ID: pay.ID, Provider: name, ProviderRef: pay.ProviderReference, Reference: pay.Reference,
		Amount: pay.Amount, Currency: pay.Currency, Status: pay.Status,
		ProviderStatus: pay.ProviderStatus, ProviderMessage: pay.ProviderMessage,
		Test: pay.Test, CreatedAt: pay.CreatedAt,
		SuccessURL: req.SuccessURL, FailureURL: req.FailureURL, ReturnURL: req.ReturnURL,
		History: []store.StatusChange{{Status: string(pay.Status), At: pay.CreatedAt, Source: "create", ProviderStatus: pay.ProviderStatus}},
	}
	answer, err := encodeAnswer(pay)
	if err != nil {
		return err
	}
	if err := h.commitAnswer(ctx, r, wr, http.StatusCreated, answer); err != nil {
		if len(wr.Once) > 0 {
			// Without its launch data the checkout link leads nowhere.
			h.logger.Error("storing launch data", zap.String("payment_id", pay.ID), zap.Error(err))
			e := launchNotStored()
			e.Reference = req.Reference
			return writeError(w, e)
		}
		// The provider has the payment; the merchant must know it exists.
		// Answer with it, and log loudly: refunds will re-read it from the
		// provider.
		h.logger.Error("storing payment record", zap.String("payment_id", pay.ID), zap.Error(err))
		h.deferWrites("payment", pay.ID, wr)
	}
	h.logger.Info("payment created", zap.String("provider", name), zap.String("payment_id", pay.ID),
		zap.String("reference", pay.Reference), zap.String("status", string(pay.Status)))
	return writeAnswer(w, http.StatusCreated, answer)
}

// routeFor is the index of the route a create takes, or -1: a request
// naming its provider is never routed, and without routes or a matching
// one the default provider applies.
func (h *Handler) routeFor(req *providers.CreatePayment) int {
	if req.Provider != "" {
		return -1
	}
	return h.matchRoute(req)
}

// createAt sends a create to the account name, with the fields the host
// fills (the account, its notification and return URLs, the
// Idempotency-Key).
func (h *Handler) createAt(ctx context.Context, r *http.Request, name string, p providers.Provider, req *providers.CreatePayment) (*providers.Payment, error) {
	req.Provider = name
	req.NotificationURL = h.endpointURL("/notifications/" + name)
	req.GatewayReturnURL = h.returnURL(name, req.Reference) // carries a return_token (returns.go)
	req.IdempotencyKey = r.Header.Get("Idempotency-Key")
	return p.CreatePayment(ctx, h.call(name, providers.OpCreatePayment), req)
}

// completePayment fills the fields the host owns.
func (h *Handler) completePayment(name string, pay *providers.Payment) {
	pay.Object = "payment"
	pay.Provider = name
	pay.ID = providers.EncodeID(providers.KindPayment, name, pay.ProviderReference)
	if pay.CreatedAt.IsZero() {
		pay.CreatedAt = h.now().UTC()
	}
	pay.CreatedAt = pay.CreatedAt.UTC().Truncate(1e9)
}

// serveGetPayment is GET /payments/{id}: the current status, fetched from
// the provider and merged with the record under the never-backwards rule.
func (h *Handler) serveGetPayment(w http.ResponseWriter, r *http.Request, c call) error {
	name, ref, ok := providers.DecodeID(providers.KindPayment, c.arg)
	p := h.providers[name]
	if !ok || p == nil {
		return writeError(w, providers.NotFound("no such payment: the id is not one this gateway issued for a configured provider"))
	}
	pay, err := p.GetPayment(r.Context(), h.call(name, providers.OpGetPayment), ref)
	if err != nil {
		return writeError(w, err)
	}
	h.completePayment(name, pay)
	pay, err = h.reconcile(r, name, pay, "fetch")
	if err != nil {
		return writeError(w, err)
	}
	return writeJSON(w, http.StatusOK, pay)
}

// reconcile merges a payment fetched from the provider with the record:
// the record is created when missing, the fetched status is applied when
// the transition rules allow it (a fetch is a confirmation), and the
// answer shows the record's status and refunded total.
func (h *Handler) reconcile(r *http.Request, name string, pay *providers.Payment, source string) (*providers.Payment, error) {
	ctx := context.WithoutCancel(r.Context()) // after a provider call: not the client's to cancel
	rec, err := h.store.GetPayment(ctx, pay.ID)
	if errors.Is(err, store.ErrNotFound) {
		rec, err = h.store.PutPayment(ctx, &store.PaymentRecord{
			ID: pay.ID, Provider: name, ProviderRef: pay.ProviderReference, Reference: pay.Reference,
			Amount: pay.Amount, Currency: pay.Currency, Status: pay.Status,
			ProviderStatus: pay.ProviderStatus, ProviderMessage: pay.ProviderMessage, Test: pay.Test, CreatedAt: pay.CreatedAt,
			History: []store.StatusChange{{Status: string(pay.Status), At: h.now().UTC(), Source: source, ProviderStatus: pay.ProviderStatus}},
		})
		if err == nil && !h.DisableOutbox {
			// A payment this gateway learns of by a fetch (created before
			// it, by another instance, or after an unknown outcome) is
			// reconciled from now on too.
			h.scheduleReconcile(r, name, pay)
		}
	}
	if err != nil {
		h.logger.Error("reading payment record", zap.String("payment_id", pay.ID), zap.Error(err))
		return nil, providers.Internal("the payment record could not be read")
	}
	if rec.Status != pay.Status {
		updated, changed, err := h.store.ApplyPaymentStatus(ctx, pay.ID, pay.Status, true,
			store.StatusChange{Status: string(pay.Status), At: h.now().UTC(), Source: source, ProviderStatus: pay.ProviderStatus})
		if err != nil {
			h.logger.Error("updating payment record", zap.String("payment_id", pay.ID), zap.Error(err))
			return nil, providers.Internal("the payment record could not be updated")
		}
		if !changed {
			h.logger.Info("provider status not applied (would move backwards)", zap.String("payment_id", pay.ID),
				zap.String("recorded", string(rec.Status)), zap.String("fetched", string(pay.Status)))
		}
		rec = updated
	}
	return mergeRecord(pay, rec), nil
}

// mergeRecord shows what the gateway knows better than a single fetch: the
// status after the transition rules, the amount and currency it created the
// payment with, the refunded total and the merchant reference.
func mergeRecord(pay *providers.Payment, rec *store.PaymentRecord) *providers.Payment {
	out := *pay
	out.Status = rec.Status
	out.AmountRefunded = rec.AmountRefunded
	if rec.Amount > 0 {
		out.Amount, out.Currency = rec.Amount, rec.Currency
	}
	if rec.Reference != "" {
		// The merchant's own reference, as the gateway recorded it, wins
		// over whatever a fetch or a notification echoes.
		out.Reference = rec.Reference
	}
	if !rec.CreatedAt.IsZero() {
		out.CreatedAt = rec.CreatedAt.UTC()
	}
	if out.Status.Final() {
		out.NextAction = nil
	}
	return &out
}

// serveFindPayment is GET /payments?provider=<name>&reference=<ref>: find a
// payment by the merchant reference (after a timeout, say).
func (h *Handler) serveFindPayment(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ref := q.Get("reference")
	if e := validateReference("reference", ref, true); e != nil {
		return writeError(w, e)
	}
	name, p, e := h.provider(q.Get("provider"))
	if e != nil {
		return writeError(w, e)
	}
	pay, err := p.FindPayment(r.Context(), h.call(name, providers.OpFindPayment), ref)
	if err != nil {
		e := providers.AsError(err)
		e.Reference = ref
		return writeError(w, e)
	}
	h.completePayment(name, pay)
	pay, err = h.reconcile(r, name, pay, "fetch")
	if err != nil {
		return writeError(w, err)
	}
	return writeJSON(w, http.StatusOK, pay)
}

// serveProviders is GET /providers: what each configured account supports
// and its circuit breaker's state (health: ok, open, half_open), and the
// routing rules in order; never secrets.
func (h *Handler) serveProviders(w http.ResponseWriter, r *http.Request, c call) error {
	type entry struct {
		Name    string `json:"name"`
		Default bool   `json:"default"`
		Health  string `json:"health"`
		providers.Capabilities
	}
	list := make([]entry, 0, len(h.names))
	for _, n := range h.names {
		list = append(list, entry{Name: n, Default: n == h.DefaultProvider || len(h.names) == 1,
			Health: h.breakers[n].health(), Capabilities: h.providers[n].Capabilities()})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": list, "routes": h.routeViews()})
}
