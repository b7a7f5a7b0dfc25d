package caddymodule

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// defaultReconcileSchedule spaces the re-fetches of a payment that is not
// final: soon at first (a lost notification), then daily, which covers
// Razorpay's late-authorisation window (up to 5 days) and payabl's
// automatic failure of unfunded Trustly payments after 15 days.
var defaultReconcileSchedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute,
	time.Hour, 6 * time.Hour, 24 * time.Hour}

// reconcileGiveUp is how long a payment is re-fetched before the gateway
// stops (GET /payments/{id} still reconciles on demand).
const reconcileGiveUp = 30 * 24 * time.Hour

// scheduleReconcile queues a re-fetch of a payment that is not final, with
// what the event of a change needs to reach the shop: this Caddy server,
// the request's host and the notification path under the same prefix as
// the create route.
func (h *Handler) scheduleReconcile(r *http.Request, name string, pay *providers.Payment) {
	rq, ok := h.store.(store.ReconcileQueue)
	if !ok || pay.Status.Final() {
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
		PaymentID: pay.ID, Provider: name, Server: server, Host: r.Host,
		Path:   routePrefix(path) + "/notifications/" + name,
		NextAt: now.Add(h.reconcileDelay(0)), Created: now,
	}
	if err := rq.ScheduleCheck(r.Context(), c); err != nil {
		h.logger.Error("scheduling the reconcile check", zap.String("payment_id", pay.ID), zap.Error(err))
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

// reconcileOne re-fetches one payment. A change the transition rules allow
// (a fetch is a confirmation) is recorded and its event queued in the
// outbox, which delivers it like a notification's; a final status ends
// the checks.
func (h *Handler) reconcileOne(ctx context.Context, rq store.ReconcileQueue, c *store.ReconcileCheck) {
	done := func(why string) {
		if err := rq.DoneCheck(ctx, c.PaymentID); err != nil && ctx.Err() == nil {
			h.logger.Error("ending the reconcile check", zap.String("payment_id", c.PaymentID), zap.Error(err))
		}
		h.logger.Debug("reconcile checks ended", zap.String("payment_id", c.PaymentID), zap.String("why", why))
	}
	again := func() {
		if h.now().Sub(c.Created) > reconcileGiveUp {
			h.logger.Warn("payment still not final; reconcile checks stop (GET /payments/{id} still fetches)", zap.String("payment_id", c.PaymentID))
			done("gave up")
			return
		}
		c.Attempts++
		c.NextAt = h.now().UTC().Add(h.reconcileDelay(c.Attempts))
		if err := rq.ScheduleCheck(ctx, c); err != nil && ctx.Err() == nil {
			h.logger.Error("rescheduling the reconcile check", zap.String("payment_id", c.PaymentID), zap.Error(err))
		}
	}
	name, ref, ok := providers.DecodeID(providers.KindPayment, c.PaymentID)
	p := h.providers[name]
	if !ok || p == nil {
		done("provider no longer configured")
		return
	}
	rec, err := h.store.GetPayment(ctx, c.PaymentID)
	if err != nil {
		again()
		return
	}
	if rec.Status.Final() {
		done("already final")
		return
	}
	pay, err := p.GetPayment(ctx, h.doer, ref)
	if err != nil {
		pe := providers.AsError(err)
		h.logger.Info("reconcile fetch failed; will retry", zap.String("payment_id", c.PaymentID), zap.String("code", pe.Code))
		again()
		return
	}
	h.completePayment(name, pay)
	upd, changed, err := h.store.ApplyPaymentStatus(ctx, c.PaymentID, pay.Status, true,
		store.StatusChange{Status: string(pay.Status), At: h.now().UTC(), Source: "reconcile", ProviderStatus: pay.ProviderStatus})
	if err != nil {
		again()
		return
	}
	if changed {
		h.logger.Info("reconcile found a change", zap.String("payment_id", c.PaymentID),
			zap.String("from", string(rec.Status)), zap.String("to", string(upd.Status)))
		if typ := paymentEventType(upd.Status); typ != "" {
			h.queueReconcileEvent(ctx, c, name, ref, typ, mergeRecord(pay, upd))
		}
	}
	if upd.Status.Final() {
		done("final")
		return
	}
	again()
}

// queueReconcileEvent puts the event of a change found by a check into the
// outbox, unless the status was already announced to the shop.
func (h *Handler) queueReconcileEvent(ctx context.Context, c *store.ReconcileCheck, name, ref, typ string, data *providers.Payment) {
	announce := announceKey(name, "payment", ref, typ)
	if done, _ := h.store.Delivered(ctx, announce); done {
		return
	}
	ev := &Event{
		ID: eventID(name, "reconcile|"+ref, typ), Type: typ, CreatedAt: h.now().UTC().Truncate(time.Second),
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
		h.logger.Error("queueing the reconcile event", zap.String("payment_id", c.PaymentID), zap.Error(err))
	}
}

// routePrefix is what stands before the canonical API's /payments route in
// a request path ("/pay" for "/pay/payments/pay_x"), i.e. the prefix a
// handle_path strips.
func routePrefix(path string) string {
	if i := strings.LastIndex(path, "/payments"); i >= 0 {
		return path[:i]
	}
	return ""
}
