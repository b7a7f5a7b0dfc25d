package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// serveNotification is POST /notifications/{name}: a provider webhook.
//
// Order of work: read the raw body (capped) → verify it with the
// provider's scheme (401 and never forwarded when it fails) → where the
// notification cannot be trusted as such, or claims money moved on unsigned
// fields, fetch the truth from the provider → apply it to the record under
// the never-backwards rule → forward one canonical event, signed, to the
// next handler → acknowledge the provider only once that handler answered
// 2xx.
func (h *Handler) serveNotification(w http.ResponseWriter, r *http.Request, c call) error {
	name := c.arg
	p := h.providers[name]
	if p == nil {
		return writeError(w, providers.NotFound("no provider account named %q", name))
	}
	body, e := h.readBody(w, r)
	if e != nil {
		return writeError(w, e)
	}
	n, err := p.VerifyNotification(&providers.IncomingNotification{
		Method: r.Method, Header: r.Header, Query: r.URL.Query(), Body: body,
	})
	if err != nil {
		if errors.Is(err, providers.ErrUnauthenticated) {
			h.logger.Warn("notification failed authentication; not forwarded",
				zap.String("provider", name), zap.String("remote_addr", r.RemoteAddr), zap.Int("size", len(body)))
			return writeError(w, &providers.Error{Type: providers.TypeAuthentication, Code: "invalid_signature",
				Message: "the notification could not be authenticated", RequestSent: providers.SentNo})
		}
		h.logger.Warn("notification rejected", zap.String("provider", name), zap.String("remote_addr", r.RemoteAddr), zap.String("reason", providers.AsError(err).Message))
		e := providers.AsError(err)
		if e.Type == providers.TypeInternal {
			e = &providers.Error{Type: providers.TypeInvalidRequest, Code: "invalid_notification",
				Message: "the notification could not be parsed", RequestSent: providers.SentNo}
		}
		return writeError(w, e)
	}

	ev, err := h.buildEvent(r.Context(), name, p, n)
	if err != nil {
		// Not acknowledged: the provider will send it again.
		pe := providers.AsError(err)
		h.logger.Error("notification verified but not processed; not acknowledged",
			zap.String("provider", name), zap.String("object", n.Object), zap.String("type", pe.Type), zap.String("code", pe.Code))
		return writeError(w, pe)
	}
	if ev == nil {
		return p.Acknowledge(w)
	}
	if done, _ := h.store.Delivered(r.Context(), ev.ID); done {
		h.logger.Info("notification already delivered; acknowledged again", zap.String("provider", name), zap.String("event_id", ev.ID))
		return p.Acknowledge(w)
	}
	if ev.announce != "" {
		if done, _ := h.store.Delivered(r.Context(), ev.announce); done {
			h.logger.Info("status already announced to the shop by another notification; acknowledged, not forwarded",
				zap.String("provider", name), zap.String("event_id", ev.ID), zap.String("event_type", ev.Type))
			return p.Acknowledge(w)
		}
	}

	evBody, err := json.Marshal(ev)
	if err != nil {
		return writeError(w, providers.Internal("the event could not be encoded"))
	}
	ctx := r.Context()
	if !h.DisableOutbox {
		// Durable first: once stored, the event survives a shop outage, a
		// reload or a crash, and the provider may be acknowledged. The
		// entry is leased for outboxLease() so the worker leaves it to the
		// attempt made right here.
		stored, err := h.store.EnqueueEvent(ctx, h.outboxEntry(r, name, ev, evBody))
		if err != nil {
			h.logger.Error("storing the event for delivery; provider not acknowledged", zap.String("event_id", ev.ID), zap.Error(err))
			return writeError(w, &providers.Error{Type: providers.TypeInternal, Code: "store_failed",
				Message: "the event could not be stored; send the notification again later", HTTPStatus: http.StatusServiceUnavailable,
				RequestSent: providers.SentNo, Retryable: true})
		}
		if !stored {
			// A repeat of a notification whose event is already queued
			// (or was just delivered), or another notification announcing
			// the same status (Razorpay's payment.captured and order.paid):
			// the event that is queued carries it, and this request does
			// not race the worker that holds it.
			h.logger.Info("event already queued or its status already announced; acknowledged, not forwarded again",
				zap.String("provider", name), zap.String("event_id", ev.ID), zap.String("event_type", ev.Type))
			return p.Acknowledge(w)
		}
	}

	res := h.forward(r, c.next, ev.ID, evBody, h.inlineForwardTimeout())
	if res.Accepted() {
		h.markDelivered(ctx, ev.ID, ev.announce)
		h.logger.Info("event forwarded", zap.String("provider", name), zap.String("event_id", ev.ID),
			zap.String("event_type", ev.Type), zap.Int("shop_status", res.Status))
		return p.Acknowledge(w)
	}
	reason := h.logForwardFailure(name, ev.ID, ev.Type, res)
	if h.DisableOutbox {
		return writeError(w, &providers.Error{Type: providers.TypeInternal, Code: "forward_failed",
			Message:    "the event could not be delivered to the shop; send the notification again later",
			HTTPStatus: http.StatusServiceUnavailable, RequestSent: providers.SentNo, Retryable: true})
	}
	if err := h.store.RescheduleEvent(ctx, ev.ID, 1, h.nextAttempt(1), reason); err != nil {
		h.logger.Error("scheduling redelivery", zap.String("event_id", ev.ID), zap.Error(err))
	}
	h.logger.Warn("event queued for redelivery; provider acknowledged", zap.String("provider", name), zap.String("event_id", ev.ID))
	return p.Acknowledge(w)
}

// logForwardFailure logs why the shop did not take an event and returns a
// short reason for the outbox record.
func (h *Handler) logForwardFailure(name, id, typ string, res forwardResult) string {
	if !res.Answered {
		h.logger.Error("CONFIGURATION ERROR: no handler after `payments` answered the forwarded event; add a reverse_proxy to the shop after it",
			zap.String("provider", name), zap.String("event_id", id))
		return "no handler after payments answered"
	}
	h.logger.Warn("shop did not accept the event", zap.String("provider", name), zap.String("event_id", id),
		zap.String("event_type", typ), zap.Int("shop_status", res.Status))
	return "shop answered " + strconv.Itoa(res.Status)
}

// markDelivered records that the shop accepted an event (and the status
// it announces) and removes it from the outbox.
func (h *Handler) markDelivered(ctx context.Context, id, announce string) {
	for _, key := range []string{id, announce} {
		if key == "" {
			continue
		}
		if err := h.store.MarkDelivered(ctx, key); err != nil {
			h.logger.Error("recording delivery", zap.String("event_id", id), zap.Error(err))
		}
	}
	if !h.DisableOutbox {
		if err := h.store.RemoveEvent(ctx, id); err != nil {
			h.logger.Error("removing a delivered event from the outbox", zap.String("event_id", id), zap.Error(err))
		}
	}
}

// announceKey names "this status of this object was announced to the shop".
func announceKey(account, object, ref, eventType string) string {
	return "announced:" + account + ":" + object + ":" + ref + ":" + eventType
}

// jsonMarshal encodes an event.
func jsonMarshal(ev *Event) ([]byte, error) { return json.Marshal(ev) }

// eventID is deterministic for the same provider notification and
// outcome, so the shop can de-duplicate on webhook-id.
func eventID(account, key, eventType string) string {
	sum := sha256.Sum256([]byte(account + "\x00" + key + "\x00" + eventType))
	return providers.KindEvent + "_" + hex.EncodeToString(sum[:16])
}

// buildEvent turns a verified notification into the canonical event, or
// nil when there is nothing to forward (a notification that maps to no
// event, or a status change the rules refuse).
func (h *Handler) buildEvent(ctx context.Context, name string, p providers.Provider, n *providers.Notification) (*Event, error) {
	if n.ProviderRef == "" {
		if n.EventType == "" {
			h.logger.Info("notification maps to no event; acknowledged, not forwarded", zap.String("provider", name))
			return nil, nil
		}
		return nil, providers.Garbage("the notification names no transaction")
	}
	if n.EventType == "" && !(n.Trust.Object == providers.Unsigned) {
		h.logger.Info("notification maps to no event; acknowledged, not forwarded",
			zap.String("provider", name), zap.String("object", n.Object), zap.String("provider_status", n.ProviderStatus))
		return nil, nil
	}
	var (
		data      any
		eventType string
		err       error
	)
	switch n.Object {
	case "payment":
		data, eventType, err = h.paymentEvent(ctx, name, p, n)
	case "refund":
		data, eventType, err = h.refundEvent(ctx, name, p, n)
	case "payout":
		data, eventType, err = h.payoutEvent(ctx, name, p, n)
	default:
		h.logger.Info("notification about an unknown object; acknowledged, not forwarded", zap.String("provider", name), zap.String("object", n.Object))
		return nil, nil
	}
	if err != nil || eventType == "" {
		return nil, err
	}
	ev := &Event{
		ID:            eventID(name, n.EventKey, eventType),
		Type:          eventType,
		CreatedAt:     h.now().UTC().Truncate(1e9),
		Provider:      name,
		Data:          data,
		ProviderEvent: n.ProviderEvent,
	}
	if eventType != "payment.disputed" {
		// A dispute is news each time; a status is announced once per object.
		ev.announce = announceKey(name, n.Object, n.ProviderRef, eventType)
	}
	return ev, nil
}

// paymentEvent handles a payment notification.
func (h *Handler) paymentEvent(ctx context.Context, name string, p providers.Provider, n *providers.Notification) (any, string, error) {
	id := providers.EncodeID(providers.KindPayment, name, n.ProviderRef)
	rec, recErr := h.store.GetPayment(ctx, id)
	if recErr != nil && !errors.Is(recErr, store.ErrNotFound) {
		return nil, "", providers.Internal("the payment record could not be read")
	}
	known := recErr == nil
	eventType := n.EventType
	status := providers.Status(n.Status)
	confirmed := false
	var pay *providers.Payment

	// Fetch when nothing in the notification can be trusted, when it claims
	// money moved on unsigned fields, or when the amount is unsigned and the
	// gateway has no record to take it from.
	// A failed payment moves up (Razorpay's late authorisation) only on a
	// fetch from the provider, never on the message alone.
	lateUp := known && rec.Status == providers.StatusFailed &&
		(status == providers.StatusAuthorized || status == providers.StatusSucceeded)
	if (n.Trust.Object == providers.Unsigned) || (n.Trust.Status != providers.SignedBody) || lateUp || (!known && (n.Trust.Amount == providers.Unsigned)) {
		got, err := p.GetPayment(ctx, h.doer, n.ProviderRef)
		if err != nil {
			return nil, "", err
		}
		h.completePayment(name, got)
		pay, confirmed = got, true
		if lateUp && got.Status == providers.StatusFailed {
			h.logger.Warn("notification claims a failed payment moved up; the provider does not confirm it; acknowledged, not forwarded",
				zap.String("provider", name), zap.String("payment_id", id), zap.String("claimed", string(status)))
			return nil, "", nil
		}
		if (n.Trust.Object == providers.Unsigned) || (n.Trust.Status != providers.SignedBody) || lateUp {
			if eventType != "payment.disputed" {
				if got.Status != status {
					h.logger.Warn("notification's claim not confirmed by the provider; forwarding what the provider says",
						zap.String("provider", name), zap.String("payment_id", id), zap.String("claimed", string(status)), zap.String("fetched", string(got.Status)))
				}
				status = got.Status
				eventType = paymentEventType(status)
			}
		}
	}
	if pay == nil {
		pay = &providers.Payment{
			Provider: name, ProviderReference: n.ProviderRef, Reference: n.Reference,
			Amount: n.Amount, Currency: n.Currency, Status: status,
			ProviderStatus: n.ProviderStatus, ProviderMessage: n.ProviderMessage,
		}
		h.completePayment(name, pay)
		if known {
			pay.Test = rec.Test
		}
	}
	if !known {
		base := *pay
		if eventType != "payment.disputed" {
			base.Status = status
		}
		var err error
		rec, err = h.store.PutPayment(ctx, &store.PaymentRecord{
			ID: id, Provider: name, ProviderRef: n.ProviderRef, Reference: base.Reference,
			Amount: base.Amount, Currency: base.Currency, Status: base.Status, Test: base.Test,
			ProviderStatus: base.ProviderStatus, ProviderMessage: base.ProviderMessage, CreatedAt: base.CreatedAt,
			History: []store.StatusChange{{Status: string(base.Status), At: h.now().UTC(), Source: "notification", ProviderStatus: n.ProviderStatus}},
		})
		if err != nil {
			return nil, "", providers.Internal("the payment record could not be stored")
		}
	}
	if eventType == "" {
		return nil, "", nil
	}
	if eventType != "payment.disputed" {
		if rec.Status != status {
			upd, changed, err := h.store.ApplyPaymentStatus(ctx, id, status, confirmed,
				store.StatusChange{Status: string(status), At: h.now().UTC(), Source: "notification", ProviderStatus: n.ProviderStatus})
			if err != nil {
				return nil, "", providers.Internal("the payment record could not be updated")
			}
			if !changed && upd.Status != status {
				h.logger.Info("notification would move the payment backwards; recorded, acknowledged, not forwarded",
					zap.String("provider", name), zap.String("payment_id", id), zap.String("recorded", string(upd.Status)), zap.String("notified", string(status)))
				return nil, "", nil
			}
			rec = upd
		}
	}
	return mergeRecord(pay, rec), eventType, nil
}

// paymentEventType maps a payment status to its event type ("" for
// statuses that are no event: requires_action, unknown).
func paymentEventType(s providers.Status) string {
	switch s {
	case providers.StatusProcessing, providers.StatusAuthorized, providers.StatusSucceeded,
		providers.StatusFailed, providers.StatusCancelled, providers.StatusExpired:
		return "payment." + string(s)
	}
	return ""
}

// refundEvent handles a refund notification.
func (h *Handler) refundEvent(ctx context.Context, name string, p providers.Provider, n *providers.Notification) (any, string, error) {
	id := providers.EncodeID(providers.KindRefund, name, n.ProviderRef)
	status, eventType := n.Status, n.EventType
	var out *providers.Refund
	if (n.Trust.Object == providers.Unsigned) || (n.Trust.Status != providers.SignedBody) {
		refunder, ok := p.(providers.Refunder)
		if !ok {
			return nil, "", providers.NotSupported("provider %s cannot confirm refunds", name)
		}
		got, err := refunder.GetRefund(ctx, h.doer, n.ProviderRef)
		if err != nil {
			return nil, "", err
		}
		out, status, eventType = got, got.Status, "refund."+got.Status
	}
	rec, err := h.waitRefund(ctx, id)
	switch {
	case err == nil:
		if rec.Status != status {
			upd, changed, err := h.store.ApplyRefundStatus(ctx, id, status, store.StatusChange{Status: status, At: h.now().UTC(), Source: "notification", ProviderStatus: n.ProviderStatus})
			if err != nil {
				return nil, "", providers.Internal("the refund record could not be updated")
			}
			if !changed && upd.Status != status {
				h.logger.Info("notification would move the refund backwards; recorded, acknowledged, not forwarded",
					zap.String("provider", name), zap.String("refund_id", id), zap.String("recorded", upd.Status), zap.String("notified", status))
				return nil, "", nil
			}
			rec = upd
		}
		out = refundFromRecord(rec)
	case errors.Is(err, store.ErrNotFound):
		if out == nil {
			out = &providers.Refund{ProviderReference: n.ProviderRef, Reference: n.Reference, Amount: n.Amount, Currency: n.Currency, Status: status}
		}
		out.ID, out.Object, out.Provider = id, "refund", name
		if n.PaymentRef != "" {
			out.PaymentID = providers.EncodeID(providers.KindPayment, name, n.PaymentRef)
		}
	default:
		return nil, "", providers.Internal("the refund record could not be read")
	}
	out.ProviderStatus, out.ProviderMessage = n.ProviderStatus, n.ProviderMessage
	if !providers.ValidEventType(eventType) {
		h.logger.Info("notification maps to no event; acknowledged, not forwarded",
			zap.String("provider", name), zap.String("id", id), zap.String("status", status))
		return nil, "", nil
	}
	return out, eventType, nil
}

// payoutEvent handles a payout notification.
func (h *Handler) payoutEvent(ctx context.Context, name string, p providers.Provider, n *providers.Notification) (any, string, error) {
	id := providers.EncodeID(providers.KindPayout, name, n.ProviderRef)
	status, eventType := n.Status, n.EventType
	var out *providers.Payout
	if (n.Trust.Object == providers.Unsigned) || (n.Trust.Status != providers.SignedBody) {
		sender, ok := p.(providers.PayoutSender)
		if !ok {
			return nil, "", providers.NotSupported("provider %s cannot confirm payouts", name)
		}
		got, err := sender.GetPayout(ctx, h.doer, n.ProviderRef)
		if err != nil {
			return nil, "", err
		}
		out, status, eventType = got, got.Status, "payout."+got.Status
	}
	rec, err := h.store.GetPayout(ctx, id)
	if err == nil && rec.Status == providers.PayoutSucceeded && status == providers.PayoutFailed {
		// A bank can return a payout days after it was paid out (payabl
		// sends a failed cft notification then): that is a reversal.
		status, eventType = providers.PayoutReversed, "payout.reversed"
	}
	switch {
	case err == nil:
		if rec.Status != status {
			upd, changed, err := h.store.ApplyPayoutStatus(ctx, id, status, store.StatusChange{Status: status, At: h.now().UTC(), Source: "notification", ProviderStatus: n.ProviderStatus})
			if err != nil {
				return nil, "", providers.Internal("the payout record could not be updated")
			}
			if !changed && upd.Status != status {
				h.logger.Info("notification would move the payout backwards; recorded, acknowledged, not forwarded",
					zap.String("provider", name), zap.String("payout_id", id), zap.String("recorded", upd.Status), zap.String("notified", status))
				return nil, "", nil
			}
			rec = upd
		}
		out = &providers.Payout{ProviderReference: rec.ProviderRef, Reference: rec.Reference, Amount: rec.Amount,
			Currency: rec.Currency, Status: rec.Status, Test: rec.Test, CreatedAt: rec.CreatedAt}
	case errors.Is(err, store.ErrNotFound):
		if out == nil {
			out = &providers.Payout{ProviderReference: n.ProviderRef, Reference: n.Reference, Amount: n.Amount, Currency: n.Currency, Status: status}
		}
	default:
		return nil, "", providers.Internal("the payout record could not be read")
	}
	out.ID, out.Object, out.Provider = id, "payout", name
	out.ProviderStatus, out.ProviderMessage = n.ProviderStatus, n.ProviderMessage
	if !providers.ValidEventType(eventType) {
		h.logger.Info("notification maps to no event; acknowledged, not forwarded",
			zap.String("provider", name), zap.String("id", id), zap.String("status", status))
		return nil, "", nil
	}
	return out, eventType, nil
}

// waitRefund reads a refund record. Providers may notify about a refund
// before the create call that made it has stored its record (payabl sends
// the notification right after its reply); while a refund create is in
// flight, a missing record is looked for again for up to two seconds, so
// the event carries the payment_id and amount the gateway knows.
func (h *Handler) waitRefund(ctx context.Context, id string) (*store.RefundRecord, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		rec, err := h.store.GetRefund(ctx, id)
		if !errors.Is(err, store.ErrNotFound) || h.refundsInFlight.Load() == 0 || time.Now().After(deadline) {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(25 * time.Millisecond):
		}
	}
}
