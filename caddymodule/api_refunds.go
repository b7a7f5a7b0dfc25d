package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// refundBody is the canonical refund request; Amount is a pointer so an
// omitted amount (refund the rest) differs from an explicit 0 (invalid).
type refundBody struct {
	Amount    *int64 `json:"amount"`
	Reason    string `json:"reason"`
	Reference string `json:"reference"`
}

// serveCreateRefund is POST /payments/{id}/refunds. The refundable balance
// is reserved in the state store before the provider is called, so two
// refunds can never together exceed what was paid; the reservation is
// released when the provider certainly did not refund (refused, or never
// reached), and kept when the outcome is unknown.
func (h *Handler) serveCreateRefund(w http.ResponseWriter, r *http.Request, c call) error {
	name, payRef, ok := providers.DecodeID(providers.KindPayment, c.arg)
	p := h.providers[name]
	if !ok || p == nil {
		return writeError(w, providers.NotFound("no such payment: the id is not one this gateway issued for a configured provider"))
	}
	refunder, ok := p.(providers.Refunder)
	if !ok || !p.Capabilities().Supports(providers.OpRefund) {
		return writeError(w, providers.NotSupported("provider %s does not support refunds", name))
	}
	body, e := h.readBody(w, r)
	if e != nil {
		return writeError(w, e)
	}
	var in refundBody
	if e := decodeStrict(body, &in); e != nil {
		return writeError(w, e)
	}
	if e := validateReference("reference", in.Reference, false); e != nil {
		return writeError(w, e)
	}
	if e := validateText("reason", in.Reason, maxText); e != nil {
		return writeError(w, e)
	}
	if in.Amount != nil && *in.Amount <= 0 {
		return writeError(w, providers.Invalid("amount", "amount must be a positive integer number of minor units (omit it to refund the rest)"))
	}

	ctx := r.Context()
	paymentID := c.arg
	rec, err := h.store.GetPayment(ctx, paymentID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Status != providers.StatusSucceeded) {
		// Unknown here (created elsewhere) or not yet known to be paid: ask
		// the provider, which is the authority on whether money moved.
		pay, ferr := p.GetPayment(ctx, h.call(name, providers.OpGetPayment), payRef)
		if ferr != nil {
			return writeError(w, ferr)
		}
		h.completePayment(name, pay)
		if _, ferr = h.reconcile(r, name, pay, "fetch"); ferr != nil {
			return writeError(w, ferr)
		}
		rec, err = h.store.GetPayment(ctx, paymentID)
	}
	if err != nil {
		h.logger.Error("reading payment record", zap.String("payment_id", paymentID), zap.Error(err))
		return writeError(w, storeUnavailable("the payment record could not be read; nothing was sent"))
	}
	if rec.Status != providers.StatusSucceeded {
		return writeError(w, providers.Invalid("payment_id", "only a succeeded payment can be refunded (this one is %s)", rec.Status))
	}
	amount := rec.Amount - rec.AmountRefunded
	if in.Amount != nil {
		amount = *in.Amount
	}
	if amount <= 0 {
		return writeError(w, providers.Invalid("amount", "nothing is left to refund: %d of %d already refunded", rec.AmountRefunded, rec.Amount))
	}
	req := &providers.RefundRequest{
		Amount: amount, Currency: rec.Currency, Reason: in.Reason, Reference: in.Reference,
		PaymentProviderRef: rec.ProviderRef, PaymentAmount: rec.Amount,
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	}
	if err := refunder.ValidateRefund(req); err != nil {
		return writeError(w, err)
	}

	h.refundsInFlight.Add(1)
	defer h.refundsInFlight.Add(-1)
	key := newKey("rk")
	if _, err := h.store.ReserveRefund(ctx, paymentID, key, amount); err != nil {
		if errors.Is(err, store.ErrRefundExceeds) {
			return writeError(w, providers.Invalid("amount", "amount %d exceeds the refundable balance of %d (%d paid, %d already refunded or pending)",
				amount, rec.Amount-rec.AmountRefunded, rec.Amount, rec.AmountRefunded))
		}
		h.logger.Error("reserving refund", zap.String("payment_id", paymentID), zap.Error(err))
		return writeError(w, storeUnavailable("the refund could not be recorded; nothing was sent"))
	}
	// From the reservation on, nothing depends on the client's
	// connection: a client that goes away cancels neither the refund call
	// nor the release or record after it.
	ctx = context.WithoutCancel(ctx)
	ref, err := refunder.Refund(ctx, h.call(name, providers.OpRefund), req)
	if err != nil {
		pe := providers.AsError(err)
		if pe.RequestSent != providers.SentUnknown {
			if _, rerr := h.store.ReleaseRefund(ctx, paymentID, key); rerr != nil {
				h.logger.Error("releasing refund reservation", zap.String("payment_id", paymentID), zap.Error(rerr))
			}
		} else {
			h.logger.Warn("refund outcome unknown; the amount stays reserved", zap.String("payment_id", paymentID), zap.Int64("amount", amount),
				zap.String("created_by", c.by))
		}
		pe.Reference = in.Reference
		return writeError(w, pe)
	}
	ref.Object = "refund"
	ref.Provider = name
	ref.PaymentID = paymentID
	ref.ID = providers.EncodeID(providers.KindRefund, name, ref.ProviderReference)
	if ref.Amount == 0 {
		ref.Amount, ref.Currency = amount, rec.Currency
	}
	if ref.Reference == "" {
		ref.Reference = in.Reference
	}
	if ref.CreatedAt.IsZero() {
		ref.CreatedAt = h.now()
	}
	ref.CreatedAt = ref.CreatedAt.UTC().Truncate(time.Second)
	ref.CreatedBy = c.by
	rr := &store.RefundRecord{
		ID: ref.ID, Key: key, PaymentID: paymentID, Provider: name, ProviderRef: ref.ProviderReference,
		Reference: ref.Reference, Amount: ref.Amount, Currency: ref.Currency, Status: providers.RefundPending,
		Test: ref.Test, CreatedAt: ref.CreatedAt, CreatedBy: c.by,
	}
	// The record, its reconcile check and the stored answer to an
	// Idempotency-Key are one write (Store.Commit), durable before the
	// answer is sent.
	wr := &store.Writes{Refund: rr, Checks: h.checksFor(r, name, ref.ID, refundFinal(ref.Status))}
	change := store.StatusChange{Status: ref.Status, At: h.now().UTC(), Source: "create", ProviderStatus: ref.ProviderStatus}
	switch {
	case ref.Status == providers.RefundFailed:
		// A refund that failed at once also gives its reservation back:
		// ApplyRefundStatus does both in one step of its own.
		wr.Refund = nil
		if err := h.store.PutRefund(ctx, rr); err != nil {
			h.logger.Error("storing refund record", zap.String("refund_id", ref.ID), zap.Error(err))
			h.deferWrites("refund", ref.ID, wr)
		} else if _, _, err := h.store.ApplyRefundStatus(ctx, ref.ID, ref.Status, change); err != nil {
			h.logger.Error("updating refund record", zap.String("refund_id", ref.ID), zap.Error(err))
		}
	case providers.CanTransitionRefund(rr.Status, ref.Status):
		// What ApplyRefundStatus would make of the pending record.
		rr.Status, rr.History = ref.Status, []store.StatusChange{change}
	}
	answer, err := encodeAnswer(ref)
	if err != nil {
		return err
	}
	if err := h.commitAnswer(ctx, r, wr, http.StatusCreated, answer); err != nil {
		h.logger.Error("storing refund record", zap.String("refund_id", ref.ID), zap.Error(err))
	}
	h.logger.Info("refund created", zap.String("provider", name), zap.String("payment_id", paymentID),
		zap.String("refund_id", ref.ID), zap.Int64("amount", ref.Amount), zap.String("status", ref.Status),
		zap.String("created_by", c.by))
	return writeAnswer(w, http.StatusCreated, answer)
}

// serveGetRefund is GET /refunds/{id}: from the provider where it can
// answer, else from the record.
func (h *Handler) serveGetRefund(w http.ResponseWriter, r *http.Request, c call) error {
	name, ref, ok := providers.DecodeID(providers.KindRefund, c.arg)
	p := h.providers[name]
	if !ok || p == nil {
		return writeError(w, providers.NotFound("no such refund"))
	}
	ctx := r.Context()
	rec, recErr := h.store.GetRefund(ctx, c.arg)
	if refunder, ok := p.(providers.Refunder); ok {
		got, err := refunder.GetRefund(ctx, h.call(name, providers.OpGetRefund), ref)
		if err == nil {
			got.Object, got.Provider, got.ID = "refund", name, c.arg
			if recErr == nil {
				got.PaymentID = rec.PaymentID
				if got.Status != rec.Status {
					if upd, _, err := h.store.ApplyRefundStatus(context.WithoutCancel(ctx), c.arg, got.Status, store.StatusChange{Status: got.Status, At: h.now().UTC(), Source: "fetch", ProviderStatus: got.ProviderStatus}); err == nil {
						got.Status = upd.Status
					}
				}
				if got.Reference == "" {
					got.Reference = rec.Reference
				}
				got.CreatedAt = rec.CreatedAt
				got.CreatedBy = rec.CreatedBy
			}
			return writeJSON(w, http.StatusOK, got)
		}
		if pe := providers.AsError(err); pe.Type != providers.TypeNotSupported || recErr != nil {
			return writeError(w, pe)
		}
	}
	if recErr != nil {
		return writeError(w, providers.NotFound("no such refund"))
	}
	return writeJSON(w, http.StatusOK, refundFromRecord(rec))
}

func refundFromRecord(rec *store.RefundRecord) *providers.Refund {
	return &providers.Refund{
		ID: rec.ID, Object: "refund", Provider: rec.Provider, ProviderReference: rec.ProviderRef,
		PaymentID: rec.PaymentID, Reference: rec.Reference, Amount: rec.Amount, Currency: rec.Currency,
		Status: rec.Status, Test: rec.Test, CreatedAt: rec.CreatedAt, CreatedBy: rec.CreatedBy,
	}
}

// newKey returns a random key with a prefix.
func newKey(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}
