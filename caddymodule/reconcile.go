package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// defaultReconcileSchedule spaces the re-fetches of a payment, refund or
// payout that is not final: soon at first (a lost notification), then
// daily, which covers Razorpay's late-authorisation window (up to 5 days)
// and payabl's automatic failure of unfunded Trustly payments after 15
// days.
var defaultReconcileSchedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute,
	time.Hour, 6 * time.Hour, 24 * time.Hour}

// reconcileGiveUp is how long an object is re-fetched before the gateway
// stops (GET /payments/{id}, /refunds/{id} and /payouts/{id} still fetch
// on demand).
const reconcileGiveUp = 30 * 24 * time.Hour

// scheduleReconcile queues a re-fetch of a payment that is not final.
func (h *Handler) scheduleReconcile(r *http.Request, name string, pay *providers.Payment) {
	if !pay.Status.Final() {
		h.scheduleCheck(r, name, pay.ID)
	}
}

// scheduleRefundCheck queues a re-fetch of a refund that is not final
// (its outcome notification may never come: Razorpay's refund.failed,
// payabl's refund result). Nothing with the outbox off.
func (h *Handler) scheduleRefundCheck(r *http.Request, name, id, status string) {
	if !h.DisableOutbox && !refundFinal(status) {
		h.scheduleCheck(r, name, id)
	}
}

// schedulePayoutCheck queues a re-fetch of a payout that is not final.
// Nothing with the outbox off.
func (h *Handler) schedulePayoutCheck(r *http.Request, name, id, status string) {
	if !h.DisableOutbox && !payoutFinal(status) {
		h.scheduleCheck(r, name, id)
	}
}

// scheduleAfterNotification keeps re-fetching a refund or payout that a
// notification left non-final (one created before this version, or while
// the outbox was off, has no check yet).
func (h *Handler) scheduleAfterNotification(r *http.Request, name string, ev *Event) {
	switch d := ev.Data.(type) {
	case *providers.Refund:
		h.scheduleRefundCheck(r, name, d.ID, d.Status)
	case *providers.Payout:
		h.schedulePayoutCheck(r, name, d.ID, d.Status)
	}
}

// refundFinal and payoutFinal say when the checks of a refund or payout
// end. A succeeded payout can still be reversed by the bank days later;
// the provider notifies that, and the checks do not wait for it.
func refundFinal(s string) bool {
	return s == providers.RefundSucceeded || s == providers.RefundFailed
}

func payoutFinal(s string) bool {
	return s == providers.PayoutSucceeded || s == providers.PayoutFailed || s == providers.PayoutReversed
}

// scheduleCheck queues a re-fetch of the object with canonical id (its
// prefix names the kind), with what the event of a change needs to reach
// the shop: this Caddy server, the request's host and the notification
// path under the same prefix as the canonical API's routes.
func (h *Handler) scheduleCheck(r *http.Request, name, id string) {
	rq, ok := h.store.(store.ReconcileQueue)
	if !ok {
		return
	}
	path := r.URL.Path
	if o, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && o.URL != nil {
		path = o.URL.Path
	}
	server := ""
	if s, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && s != nil {
		server = s.Name()
	}
	now := h.now().UTC()
	c := &store.ReconcileCheck{
		ID: id, Provider: name, Server: server, Host: r.Host,
		Path:   routePrefix(path) + "/notifications/" + name,
		NextAt: now.Add(h.reconcileDelay(0)), Created: now,
	}
	if err := rq.ScheduleCheck(r.Context(), c); err != nil {
		h.logger.Error("scheduling the reconcile check", zap.String("id", id), zap.Error(err))
	}
}

// reconcileDelay is the wait before check number n+1.
func (h *Handler) reconcileDelay(n int) time.Duration {
	sched := defaultReconcileSchedule
	if len(h.ReconcileSchedule) > 0 {
		sched = make([]time.Duration, len(h.ReconcileSchedule))
		for i, d := range h.ReconcileSchedule {
			sched[i] = time.Duration(d)
		}
	}
	if n >= len(sched) {
		n = len(sched) - 1
	}
	return sched[n]
}

// reconcileDue makes one round of checks.
func (h *Handler) reconcileDue(ctx context.Context) {
	rq, ok := h.store.(store.ReconcileQueue)
	if !ok {
		return
	}
	eachDue(ctx, h, "reconcile queue",
		func(now time.Time) ([]*store.ReconcileCheck, error) {
			return rq.ClaimDueChecks(ctx, now, 1, h.reconcileLease())
		},
		func(c *store.ReconcileCheck) { h.reconcileOne(ctx, rq, c) })
}

// checkRun is one run of a reconcile check: it ends the check or puts it
// back on the schedule.
type checkRun struct {
	h   *Handler
	ctx context.Context
	rq  store.ReconcileQueue
	c   *store.ReconcileCheck
}

// done ends the check.
func (k checkRun) done(why string) {
	if err := k.rq.DoneCheck(k.ctx, k.c.ID); err != nil && k.ctx.Err() == nil {
		k.h.logger.Error("ending the reconcile check", zap.String("id", k.c.ID), zap.Error(err))
	}
	k.h.logger.Debug("reconcile checks ended", zap.String("id", k.c.ID), zap.String("why", why))
}

// again schedules the next run, or ends the checks after reconcileGiveUp.
func (k checkRun) again() {
	h, c := k.h, k.c
	if h.now().Sub(c.Created) > reconcileGiveUp {
		h.logger.Warn("still not final; reconcile checks stop (a GET of the object still fetches)", zap.String("id", c.ID))
		k.done("gave up")
		return
	}
	c.Attempts++
	c.NextAt = h.now().UTC().Add(h.reconcileDelay(c.Attempts))
	if err := k.rq.ScheduleCheck(k.ctx, c); err != nil && k.ctx.Err() == nil {
		h.logger.Error("rescheduling the reconcile check", zap.String("id", c.ID), zap.Error(err))
	}
}

// reconcileOne re-fetches one payment, refund or payout, as the check's id
// says. A change the transition rules allow (a fetch is a confirmation) is
// recorded and its event queued in the outbox, which delivers it like a
// notification's; a final status ends the checks.
func (h *Handler) reconcileOne(ctx context.Context, rq store.ReconcileQueue, c *store.ReconcileCheck) {
	k := checkRun{h: h, ctx: ctx, rq: rq, c: c}
	switch {
	case strings.HasPrefix(c.ID, providers.KindRefund+"_"):
		h.reconcileRefund(k)
	case strings.HasPrefix(c.ID, providers.KindPayout+"_"):
		h.reconcilePayout(k)
	default:
		h.reconcilePayment(k)
	}
}

// reconcilePayment re-fetches a payment. A payment that stays in
// processing is, from the second check on, the provider's to resolve: a
// provider that can resend its notification (providers.Resender) is asked
// to, once per check, so the outcome comes from a notification the
// provider signs rather than from a fetch that may not establish it.
func (h *Handler) reconcilePayment(k checkRun) {
	ctx, c := k.ctx, k.c
	name, ref, ok := providers.DecodeID(providers.KindPayment, c.ID)
	p := h.providers[name]
	if !ok || p == nil {
		k.done("provider no longer configured")
		return
	}
	rec, err := h.store.GetPayment(ctx, c.ID)
	if err != nil {
		k.again()
		return
	}
	if rec.Status.Final() {
		k.done("already final")
		return
	}
	pay, err := p.GetPayment(ctx, h.doer, ref)
	if err != nil {
		pe := providers.AsError(err)
		h.logger.Info("reconcile fetch failed; will retry", zap.String("payment_id", c.ID), zap.String("code", pe.Code))
		k.again()
		return
	}
	h.completePayment(name, pay)
	upd, changed, err := h.store.ApplyPaymentStatus(ctx, c.ID, pay.Status, true,
		store.StatusChange{Status: string(pay.Status), At: h.now().UTC(), Source: "reconcile", ProviderStatus: pay.ProviderStatus})
	if err != nil {
		k.again()
		return
	}
	if changed {
		h.logger.Info("reconcile found a change", zap.String("payment_id", c.ID),
			zap.String("from", string(rec.Status)), zap.String("to", string(upd.Status)))
		if typ := paymentEventType(upd.Status); typ != "" {
			h.queueReconcileEvent(ctx, c, name, "payment", ref, typ, mergeRecord(pay, upd))
		}
	}
	if upd.Status.Final() {
		k.done("final")
		return
	}
	if rs, ok := p.(providers.Resender); ok && upd.Status == providers.StatusProcessing && c.Attempts > 0 {
		if err := rs.ResendNotification(ctx, h.doer, ref); err != nil {
			h.logger.Info("payment still processing; asking the provider to resend its notification failed; will retry",
				zap.String("payment_id", c.ID), zap.String("code", providers.AsError(err).Code))
		} else {
			h.logger.Info("payment still processing; asked the provider to resend its notification",
				zap.String("payment_id", c.ID), zap.Int("check", c.Attempts+1))
		}
	}
	k.again()
}

// reconcileRefund re-fetches a refund. A provider that cannot fetch
// refunds (GetRefund answers not_supported) ends the checks: its
// notification is then the only source.
func (h *Handler) reconcileRefund(k checkRun) {
	ctx, c := k.ctx, k.c
	name, ref, ok := providers.DecodeID(providers.KindRefund, c.ID)
	refunder, canFetch := h.providers[name].(providers.Refunder)
	if !ok || h.providers[name] == nil {
		k.done("provider no longer configured")
		return
	}
	if !canFetch {
		k.done("the provider cannot fetch refunds")
		return
	}
	rec, err := h.store.GetRefund(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		k.done("no refund record")
		return
	}
	if err != nil {
		k.again()
		return
	}
	if refundFinal(rec.Status) {
		k.done("already final")
		return
	}
	got, err := refunder.GetRefund(ctx, h.doer, ref)
	if err != nil {
		pe := providers.AsError(err)
		if pe.Type == providers.TypeNotSupported {
			k.done("the provider cannot fetch refunds")
			return
		}
		h.logger.Info("reconcile fetch failed; will retry", zap.String("refund_id", c.ID), zap.String("code", pe.Code))
		k.again()
		return
	}
	upd, changed, err := h.store.ApplyRefundStatus(ctx, c.ID, got.Status,
		store.StatusChange{Status: got.Status, At: h.now().UTC(), Source: "reconcile", ProviderStatus: got.ProviderStatus})
	if err != nil {
		k.again()
		return
	}
	if changed {
		h.logger.Info("reconcile found a change", zap.String("refund_id", c.ID),
			zap.String("from", rec.Status), zap.String("to", upd.Status))
		typ := "refund." + upd.Status
		if providers.ValidEventType(typ) {
			data := refundFromRecord(upd)
			data.ProviderStatus, data.ProviderMessage = got.ProviderStatus, got.ProviderMessage
			h.queueReconcileEvent(ctx, c, name, "refund", ref, typ, data)
		}
	}
	if refundFinal(upd.Status) {
		k.done("final")
		return
	}
	k.again()
}

// reconcilePayout re-fetches a payout.
func (h *Handler) reconcilePayout(k checkRun) {
	ctx, c := k.ctx, k.c
	name, ref, ok := providers.DecodeID(providers.KindPayout, c.ID)
	sender, canFetch := h.providers[name].(providers.PayoutSender)
	if !ok || h.providers[name] == nil {
		k.done("provider no longer configured")
		return
	}
	if !canFetch {
		k.done("the provider cannot fetch payouts")
		return
	}
	rec, err := h.store.GetPayout(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		k.done("no payout record")
		return
	}
	if err != nil {
		k.again()
		return
	}
	if payoutFinal(rec.Status) {
		k.done("already final")
		return
	}
	got, err := sender.GetPayout(ctx, h.doer, ref)
	if err != nil {
		pe := providers.AsError(err)
		if pe.Type == providers.TypeNotSupported {
			k.done("the provider cannot fetch payouts")
			return
		}
		h.logger.Info("reconcile fetch failed; will retry", zap.String("payout_id", c.ID), zap.String("code", pe.Code))
		k.again()
		return
	}
	upd, changed, err := h.store.ApplyPayoutStatus(ctx, c.ID, got.Status,
		store.StatusChange{Status: got.Status, At: h.now().UTC(), Source: "reconcile", ProviderStatus: got.ProviderStatus})
	if err != nil {
		k.again()
		return
	}
	if changed {
		h.logger.Info("reconcile found a change", zap.String("payout_id", c.ID),
			zap.String("from", rec.Status), zap.String("to", upd.Status))
		typ := "payout." + upd.Status
		if providers.ValidEventType(typ) {
			data := &providers.Payout{ID: upd.ID, Object: "payout", Provider: name, ProviderReference: upd.ProviderRef,
				Reference: upd.Reference, Amount: upd.Amount, Currency: upd.Currency, Status: upd.Status,
				Test: upd.Test, CreatedAt: upd.CreatedAt, ProviderStatus: got.ProviderStatus, ProviderMessage: got.ProviderMessage}
			h.queueReconcileEvent(ctx, c, name, "payout", ref, typ, data)
		}
	}
	if payoutFinal(upd.Status) {
		k.done("final")
		return
	}
	k.again()
}

// queueReconcileEvent puts the event of a change found by a check into the
// outbox, unless the status was already announced to the shop (by a
// notification or an earlier check: one announcement key per status of an
// object).
func (h *Handler) queueReconcileEvent(ctx context.Context, c *store.ReconcileCheck, name, object, ref, typ string, data any) {
	announce := announceKey(name, object, ref, typ)
	if done, _ := h.store.Delivered(ctx, announce); done {
		return
	}
	key := "reconcile|" + ref // payments: the key earlier versions used
	if object != "payment" {
		key = "reconcile|" + object + "|" + ref
	}
	ev := &Event{
		ID: eventID(name, key, typ), Type: typ, CreatedAt: h.now().UTC().Truncate(time.Second),
		Provider: name, Data: data, announce: announce,
	}
	body, err := jsonMarshal(ev)
	if err != nil {
		return
	}
	now := h.now().UTC()
	if _, err := h.store.EnqueueEvent(ctx, &store.OutboxEntry{
		EventID: ev.ID, Announce: announce, Provider: name, EventType: typ, Body: body,
		Server: c.Server, Host: c.Host, Path: c.Path, NextAt: now, Created: now,
	}); err != nil {
		h.logger.Error("queueing the reconcile event", zap.String("id", c.ID), zap.Error(err))
	}
}

// routePrefix is what stands before the canonical API's /payments or
// /payouts route in a request path ("/pay" for "/pay/payments/pay_x" or
// "/pay/payouts"), i.e. the prefix a handle_path strips.
func routePrefix(path string) string {
	if rest, ok := strings.CutSuffix(strings.TrimRight(path, "/"), "/payouts"); ok {
		return rest
	}
	if i := strings.LastIndex(path, "/payments"); i >= 0 {
		return path[:i]
	}
	return ""
}
