package caddymodule

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

var digitsRe = regexp.MustCompile(`^[0-9A-Z]{1,34}$`)

// validatePayout applies the canonical rules to a payout request; the
// provider then checks its own per-country bank rules.
func validatePayout(req *providers.CreatePayout) *providers.Error {
	if e := validateReference("reference", req.Reference, true); e != nil {
		return e
	}
	if e := validateMoney(req.Amount, req.Currency); e != nil {
		return e
	}
	if e := validateText("description", req.Description, maxText); e != nil {
		return e
	}
	switch {
	case req.PaymentID != "" && req.BankAccount != nil:
		return providers.Invalid("bank_account", "give either payment_id or bank_account, not both")
	case req.PaymentID == "" && req.BankAccount == nil:
		return providers.Missing("bank_account")
	}
	if b := req.BankAccount; b != nil {
		if b.Country == "" {
			return providers.Missing("bank_account.country")
		}
		if !providers.ValidCountry(b.Country) {
			return providers.Invalid("bank_account.country", "bank_account.country must be an ISO 3166-1 alpha-2 code")
		}
		if b.IBAN == "" && b.AccountNumber == "" {
			return providers.Missing("bank_account.iban")
		}
		if b.IBAN != "" && (b.AccountNumber != "" || b.BankNumber != "") {
			return providers.Invalid("bank_account.iban", "give either iban or bank_number and account_number, not both")
		}
		for _, f := range []struct{ field, val string }{
			{"bank_account.iban", b.IBAN}, {"bank_account.account_number", b.AccountNumber}, {"bank_account.bank_number", b.BankNumber},
		} {
			if f.val != "" && !digitsRe.MatchString(f.val) {
				return providers.Invalid(f.field, "%s must be 1-34 upper-case letters and digits, without spaces", f.field)
			}
		}
		if e := validateText("bank_account.holder_name", b.HolderName, 100); e != nil {
			return e
		}
	}
	if c := req.Customer; c != nil {
		if e := validateCustomer("customer", c); e != nil {
			return e
		}
	}
	return nil
}

// serveCreatePayout is POST /payouts.
func (h *Handler) serveCreatePayout(w http.ResponseWriter, r *http.Request, c call) error {
	body, e := h.readBody(w, r)
	if e != nil {
		return writeError(w, e)
	}
	var req providers.CreatePayout
	if e := decodeStrict(body, &req); e != nil {
		return writeError(w, e)
	}
	if e := validatePayout(&req); e != nil {
		e.Reference = req.Reference
		return writeError(w, e)
	}
	name, p, e := h.provider(req.Provider)
	if e != nil {
		e.Reference = req.Reference
		return writeError(w, e)
	}
	sender, ok := p.(providers.PayoutSender)
	if !ok || !p.Capabilities().Supports(providers.OpPayout) {
		return writeError(w, providers.NotSupported("provider %s does not support payouts", name))
	}
	if req.PaymentID != "" {
		acct, ref, ok := providers.DecodeID(providers.KindPayment, req.PaymentID)
		if !ok || acct != name {
			e := providers.Invalid("payment_id", "payment_id must be a payment of provider %s made through this gateway", name)
			e.Reference = req.Reference
			return writeError(w, e)
		}
		req.PaymentProviderRef = ref
	}
	if caps := p.Capabilities(); len(caps.Currencies) > 0 && !contains(caps.Currencies, req.Currency) {
		return writeError(w, providers.Invalid("currency", "currency %s is not supported by provider %s", req.Currency, name))
	}
	if err := sender.ValidatePayout(&req); err != nil {
		pe := providers.AsError(err)
		pe.Reference = req.Reference
		return writeError(w, pe)
	}
	req.Provider = name
	req.NotificationURL = h.endpointURL("/notifications/" + name)
	req.IdempotencyKey = r.Header.Get("Idempotency-Key")
	ctx := context.WithoutCancel(r.Context()) // a client that goes away cancels neither the call nor its record
	po, err := sender.CreatePayout(ctx, h.call(name, providers.OpPayout), &req)
	if err != nil {
		pe := providers.AsError(err)
		pe.Reference = req.Reference
		return writeError(w, pe)
	}
	po.Object, po.Provider = "payout", name
	po.ID = providers.EncodeID(providers.KindPayout, name, po.ProviderReference)
	if po.Reference == "" {
		po.Reference = req.Reference
	}
	if po.CreatedAt.IsZero() {
		po.CreatedAt = h.now()
	}
	po.CreatedAt = po.CreatedAt.UTC().Truncate(time.Second)
	po.CreatedBy = c.by
	// The record, its reconcile check and the stored answer to an
	// Idempotency-Key are one write (Store.Commit), durable before the
	// answer is sent.
	wr := &store.Writes{
		Payout: &store.PayoutRecord{
			ID: po.ID, Provider: name, ProviderRef: po.ProviderReference, Reference: po.Reference,
			Amount: po.Amount, Currency: po.Currency, Status: po.Status, Test: po.Test, CreatedAt: po.CreatedAt, CreatedBy: c.by,
			History: []store.StatusChange{{Status: po.Status, At: po.CreatedAt, Source: "create", ProviderStatus: po.ProviderStatus}},
		},
		Checks: h.checksFor(r, name, po.ID, payoutFinal(po.Status)),
	}
	answer, err := encodeAnswer(po)
	if err != nil {
		return err
	}
	if err := h.commitAnswer(ctx, r, wr, http.StatusCreated, answer); err != nil {
		h.logger.Error("storing payout record", zap.String("payout_id", po.ID), zap.Error(err))
		h.deferWrites("payout", po.ID, wr)
	}
	h.logger.Info("payout created", zap.String("provider", name), zap.String("payout_id", po.ID), zap.Int64("amount", po.Amount),
		zap.String("status", po.Status), zap.String("created_by", c.by))
	return writeAnswer(w, http.StatusCreated, answer)
}

// serveGetPayout is GET /payouts/{id}.
func (h *Handler) serveGetPayout(w http.ResponseWriter, r *http.Request, c call) error {
	name, ref, ok := providers.DecodeID(providers.KindPayout, c.arg)
	p := h.providers[name]
	if !ok || p == nil {
		return writeError(w, providers.NotFound("no such payout"))
	}
	sender, ok := p.(providers.PayoutSender)
	if !ok {
		return writeError(w, providers.NotSupported("provider %s does not support payouts", name))
	}
	ctx := r.Context()
	po, err := sender.GetPayout(ctx, h.call(name, providers.OpGetPayout), ref)
	if err != nil {
		return writeError(w, err)
	}
	po.Object, po.Provider, po.ID = "payout", name, c.arg
	if rec, err := h.store.GetPayout(ctx, c.arg); err == nil {
		if po.Status != rec.Status {
			if upd, _, err := h.store.ApplyPayoutStatus(context.WithoutCancel(ctx), c.arg, po.Status, store.StatusChange{Status: po.Status, At: h.now().UTC(), Source: "fetch", ProviderStatus: po.ProviderStatus}); err == nil {
				po.Status = upd.Status
			}
		}
		if po.Reference == "" {
			po.Reference = rec.Reference
		}
		po.CreatedAt = rec.CreatedAt
		po.CreatedBy = rec.CreatedBy
	}
	return writeJSON(w, http.StatusOK, po)
}
