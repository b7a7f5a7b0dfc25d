package caddymodule

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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

const (
	// defaultReconcileConcurrency and defaultReconcileRate are the
	// defaults of reconcile_limit: per provider account, at most 4 checks
	// at a time and 10 calls a second, so that a burst of payments
	// created together does not come back as a burst of fetches.
	defaultReconcileConcurrency = 4
	defaultReconcileRate        = 10
	// reconcileSlotWait is how long a round waits for one of an account's
	// slots before it postpones the claimed check (its provider is slow
	// or hanging) rather than hold the other accounts' checks up.
	reconcileSlotWait = 2 * time.Second
	// reconcileJitter spreads every check's due time by ±20%, so payments
	// created together are not all due together again.
	reconcileJitter = 0.2
)

// reconciler runs the reconcile checks of one gateway. A round claims due
// checks one at a time and runs each in a goroutine of its own, holding
// one of its provider account's slots; every provider call of a check
// waits for the account's next turn, the turns spaced evenly at the
// account's rate.
type reconciler struct {
	concurrency int
	every       time.Duration // between two calls to one account
	running     atomic.Bool   // a round is dispatching
	wg          sync.WaitGroup
	mu          sync.Mutex
	accounts    map[string]*accountPace
}

// accountPace is one provider account's share of the reconciler.
type accountPace struct {
	slots chan struct{}
	mu    sync.Mutex
	next  time.Time // when the next call may start
	// later is the latest due time given to a postponed check, so that
	// postponed checks are spread out instead of all due again at once.
	later time.Time
}

func newReconciler(concurrency, perSecond int) *reconciler {
	if concurrency <= 0 {
		concurrency = defaultReconcileConcurrency
	}
	if perSecond <= 0 {
		perSecond = defaultReconcileRate
	}
	return &reconciler{concurrency: concurrency, every: time.Second / time.Duration(perSecond),
		accounts: map[string]*accountPace{}}
}

func (rc *reconciler) account(name string) *accountPace {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	a := rc.accounts[name]
	if a == nil {
		a = &accountPace{slots: make(chan struct{}, rc.concurrency)}
		rc.accounts[name] = a
	}
	return a
}

// acquire takes one of the account's slots, waiting up to wait.
func (a *accountPace) acquire(ctx context.Context, wait time.Duration) bool {
	select {
	case a.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (a *accountPace) release() { <-a.slots }

// postponed is the due time of a check put back because the account's
// slots stayed busy: after the slot wait, spaced by what the account
// managed meanwhile (at most one check per slot per slot wait).
func (rc *reconciler) postponed(a *accountPace, now time.Time) time.Time {
	step := max(rc.every, reconcileSlotWait/time.Duration(rc.concurrency))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.later = latest(a.later, now.Add(reconcileSlotWait)).Add(step)
	return a.later
}

// pace waits for the account's next turn to call its provider; nil
// without a reconciler (checks run by hand in tests), and ctx's error if
// it ends first.
func (rc *reconciler) pace(ctx context.Context, name string) error {
	if rc == nil {
		return nil
	}
	a := rc.account(name)
	a.mu.Lock()
	now := time.Now()
	at := latest(now, a.next)
	a.next = at.Add(rc.every)
	a.mu.Unlock()
	if at.Equal(now) {
		return ctx.Err()
	}
	t := time.NewTimer(at.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait lets the round and the checks under way end, for up to d.
func (rc *reconciler) wait(d time.Duration) {
	if rc == nil {
		return
	}
	done := make(chan struct{})
	go func() { rc.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// jittered spreads a delay by ±reconcileJitter.
func jittered(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*2-1)*reconcileJitter*float64(d))
}

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
// path under the same prefix as the canonical API's routes. It follows a
// provider call, so it does not depend on the client's connection: a
// client that went away does not cancel it.
func (h *Handler) scheduleCheck(r *http.Request, name, id string) {
	rq, ok := h.store.(store.ReconcileQueue)
	if !ok {
		return
	}
	c := h.newCheck(r, name, id)
	if err := rq.ScheduleCheck(context.WithoutCancel(r.Context()), c); err != nil {
		h.logger.Error("scheduling the reconcile check", zap.String("id", id), zap.Error(err))
	}
}

// checksFor is the reconcile check a create commits with its record
// (Store.Commit): one when the object's status is not final (final says
// so), none when it is, the outbox is off, or the store keeps no checks.
func (h *Handler) checksFor(r *http.Request, name, id string, final bool) []*store.ReconcileCheck {
	if final || h.DisableOutbox {
		return nil
	}
	if _, ok := h.store.(store.ReconcileQueue); !ok {
		return nil
	}
	return []*store.ReconcileCheck{h.newCheck(r, name, id)}
}

// newCheck is the first check of the object with canonical id (see
// scheduleCheck).
func (h *Handler) newCheck(r *http.Request, name, id string) *store.ReconcileCheck {
	path := r.URL.Path
	if o, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && o.URL != nil {
		path = o.URL.Path
	}
	server := ""
	if s, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && s != nil {
		server = s.Name()
	}
	now := h.now().UTC()
	return &store.ReconcileCheck{
		ID: id, Provider: name, Server: server, Host: r.Host,
		Path:   routePrefix(path) + "/notifications/" + name,
		NextAt: now.Add(jittered(h.reconcileDelay(0))), Created: now,
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

// reconcileDue starts a round of checks, unless the last one is still
// dispatching. The round runs on its own, so checks waiting for their
// account's turn do not hold up the outbox.
func (h *Handler) reconcileDue(ctx context.Context) {
	rq, ok := h.store.(store.ReconcileQueue)
	if !ok {
		return
	}
	if h.recon == nil {
		h.recon = newReconciler(h.ReconcileConcurrency, h.ReconcileRate)
	}
	rc := h.recon
	if !rc.running.CompareAndSwap(false, true) {
		return
	}
	rc.wg.Add(1)
	go func() {
		defer rc.wg.Done()
		defer rc.running.Store(false)
		h.reconcileRound(ctx, rq, rc)
	}()
}

// reconcileRound claims due checks one at a time and starts each once its
// account has a free slot. A check whose account stays busy is put back,
// due a little later, and so is every later one of that account in the
// round.
func (h *Handler) reconcileRound(ctx context.Context, rq store.ReconcileQueue, rc *reconciler) {
	busy := map[string]bool{}
	eachDue(ctx, h, "reconcile queue",
		func(now time.Time) ([]*store.ReconcileCheck, error) {
			return rq.ClaimDueChecks(ctx, now, 1, h.reconcileLease())
		},
		func(c *store.ReconcileCheck) {
			a := rc.account(c.Provider)
			if busy[c.Provider] || !a.acquire(ctx, reconcileSlotWait) {
				busy[c.Provider] = true
				if ctx.Err() != nil {
					return // the lease runs out and the check is taken up again
				}
				c.NextAt = rc.postponed(a, h.now().UTC())
				if err := rq.ScheduleCheck(ctx, c); err != nil && ctx.Err() == nil {
					h.logger.Error("postponing the reconcile check", zap.String("id", c.ID), zap.Error(err))
				}
				return
			}
			rc.wg.Add(1)
			go func() {
				defer rc.wg.Done()
				defer a.release()
				h.reconcileOne(ctx, rq, c)
			}()
		})
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
	c.NextAt = h.now().UTC().Add(jittered(h.reconcileDelay(c.Attempts)))
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
	if h.recon.pace(ctx, name) != nil {
		return // ended with the config: the lease runs out and the check is taken up again
	}
	pay, err := p.GetPayment(ctx, h.call(name, providers.OpGetPayment), ref)
	if err != nil {
		pe := providers.AsError(err)
		h.logger.Info("reconcile fetch failed; will retry", zap.String("payment_id", c.ID), zap.String("code", pe.Code))
		h.metrics.countReconcile(name, "failed")
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
	h.metrics.countReconcile(name, reconcileResult(changed))
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
		if err := h.recon.pace(ctx, name); err != nil {
			return
		}
		if err := rs.ResendNotification(ctx, h.call(name, opResendNotification), ref); err != nil {
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
	if h.recon.pace(ctx, name) != nil {
		return
	}
	got, err := refunder.GetRefund(ctx, h.call(name, providers.OpGetRefund), ref)
	if err != nil {
		pe := providers.AsError(err)
		if pe.Type == providers.TypeNotSupported {
			k.done("the provider cannot fetch refunds")
			return
		}
		h.logger.Info("reconcile fetch failed; will retry", zap.String("refund_id", c.ID), zap.String("code", pe.Code))
		h.metrics.countReconcile(name, "failed")
		k.again()
		return
	}
	upd, changed, err := h.store.ApplyRefundStatus(ctx, c.ID, got.Status,
		store.StatusChange{Status: got.Status, At: h.now().UTC(), Source: "reconcile", ProviderStatus: got.ProviderStatus})
	if err != nil {
		k.again()
		return
	}
	h.metrics.countReconcile(name, reconcileResult(changed))
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
	if h.recon.pace(ctx, name) != nil {
		return
	}
	got, err := sender.GetPayout(ctx, h.call(name, providers.OpGetPayout), ref)
	if err != nil {
		pe := providers.AsError(err)
		if pe.Type == providers.TypeNotSupported {
			k.done("the provider cannot fetch payouts")
			return
		}
		h.logger.Info("reconcile fetch failed; will retry", zap.String("payout_id", c.ID), zap.String("code", pe.Code))
		h.metrics.countReconcile(name, "failed")
		k.again()
		return
	}
	upd, changed, err := h.store.ApplyPayoutStatus(ctx, c.ID, got.Status,
		store.StatusChange{Status: got.Status, At: h.now().UTC(), Source: "reconcile", ProviderStatus: got.ProviderStatus})
	if err != nil {
		k.again()
		return
	}
	h.metrics.countReconcile(name, reconcileResult(changed))
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
