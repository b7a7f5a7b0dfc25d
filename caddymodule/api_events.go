package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// defaultEventRetention is how long announced events are kept for the
// Events API unless event_retention says otherwise (30 days).
const defaultEventRetention = 720 * time.Hour

// pruneBatch bounds the expired events one outbox tick removes, so pruning
// is a small, incremental write even after a long pause.
const pruneBatch = 200

func (h *Handler) eventRetention() time.Duration {
	if h.EventRetention > 0 {
		return time.Duration(h.EventRetention)
	}
	return defaultEventRetention
}

// eventLog is the store's event log and payment index (every store of
// this module keeps them).
func (h *Handler) eventLog() (store.EventLog, *providers.Error) {
	l, ok := h.store.(store.EventLog)
	if !ok {
		return nil, providers.Internal("the configured store keeps no event log")
	}
	return l, nil
}

// pruneEvents removes up to pruneBatch logged events older than the
// retention period (called on every outbox tick).
func (h *Handler) pruneEvents(ctx context.Context) {
	l, ok := h.store.(store.EventLog)
	if !ok {
		return
	}
	if _, err := l.PruneEvents(ctx, h.now().Add(-h.eventRetention()), pruneBatch); err != nil && ctx.Err() == nil {
		h.logger.Error("pruning the event log", zap.Error(err))
	}
}

// listQuery reads the query of a listing: limit, cursor, created_gte,
// created_lt and the filters named in filters (each at most once); any
// other parameter is refused, naming it.
func listQuery(q url.Values, filters ...string) (store.ListQuery, *providers.Error) {
	var lq store.ListQuery
	known := map[string]*string{"cursor": &lq.Cursor}
	for _, f := range filters {
		switch f {
		case "type":
			known[f] = &lq.Type
		case "provider":
			known[f] = &lq.Provider
		case "object_id":
			known[f] = &lq.ObjectID
		case "status":
			known[f] = &lq.Status
		}
	}
	for name, vs := range q {
		if len(vs) > 1 {
			return lq, providers.Invalid(truncate(name, 64), "%s may be given once", truncate(name, 64))
		}
		v := vs[0]
		switch name {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return lq, providers.Invalid("limit", "limit must be a whole number from 1 to 100")
			}
			lq.Limit = n
		case "created_gte", "created_lt":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return lq, providers.Invalid(name, "%s must be an RFC 3339 time (e.g. 2025-03-14T09:26:53Z)", name)
			}
			if name == "created_gte" {
				lq.CreatedGTE = t
			} else {
				lq.CreatedLT = t
			}
		default:
			dst, ok := known[name]
			if !ok {
				return lq, providers.Invalid(truncate(name, 64), "unknown query parameter %s", truncate(name, 64))
			}
			if v == "" || len(v) > 256 {
				return lq, providers.Invalid(name, "%s must be 1-256 characters", name)
			}
			*dst = v
		}
	}
	if lq.Status != "" && !providers.Status(lq.Status).Valid() {
		return lq, providers.Invalid("status", "status must be one of the payment statuses (e.g. succeeded)")
	}
	return lq, nil
}

// listPage is the answer of a listing.
type listPage struct {
	Object     string `json:"object"` // "list"
	Data       any    `json:"data"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor"` // "" when has_more is false
}

// serveListEvents is GET /events: the logged events, newest first.
func (h *Handler) serveListEvents(w http.ResponseWriter, r *http.Request, c call) error {
	lq, e := listQuery(r.URL.Query(), "type", "provider", "object_id")
	if e != nil {
		return writeError(w, e)
	}
	l, e := h.eventLog()
	if e != nil {
		return writeError(w, e)
	}
	page, err := l.ListEvents(r.Context(), lq)
	if err != nil {
		return writeError(w, h.listError("listing events", err))
	}
	data := make([]json.RawMessage, 0, len(page.Events))
	for _, ev := range page.Events {
		data = append(data, json.RawMessage(ev.Body))
	}
	return writeJSON(w, http.StatusOK, listPage{Object: "list", Data: data, HasMore: page.HasMore, NextCursor: page.NextCursor})
}

// serveGetEvent is GET /events/{id}: the event exactly as forwarded.
func (h *Handler) serveGetEvent(w http.ResponseWriter, r *http.Request, c call) error {
	l, e := h.eventLog()
	if e != nil {
		return writeError(w, e)
	}
	ev, err := l.GetEvent(r.Context(), c.arg)
	if errors.Is(err, store.ErrNotFound) {
		return writeError(w, providers.NotFound("no such event: unknown id, or older than event_retention"))
	}
	if err != nil {
		return writeError(w, h.listError("reading an event", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(ev.Body)
	return err
}

// serveRedeliverEvent is POST /events/{id}/redeliver: the event is queued
// for the shop again, same id (webhook-id), freshly signed by the outbox
// worker on delivery.
func (h *Handler) serveRedeliverEvent(w http.ResponseWriter, r *http.Request, c call) error {
	if h.DisableOutbox {
		return writeError(w, &providers.Error{Type: providers.TypeInvalidRequest, Code: "outbox_off",
			Message: "redelivery needs the outbox, which is off in this configuration", HTTPStatus: http.StatusConflict, RequestSent: providers.SentNo})
	}
	l, e := h.eventLog()
	if e != nil {
		return writeError(w, e)
	}
	err := l.RedeliverEvent(context.WithoutCancel(r.Context()), c.arg, h.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return writeError(w, providers.NotFound("no such event: unknown id, or older than event_retention"))
	}
	if err != nil {
		return writeError(w, h.listError("queueing an event again", err))
	}
	h.logger.Info("event queued for redelivery by the API", zap.String("event_id", c.arg), zap.String("requested_by", c.by))
	return writeJSON(w, http.StatusAccepted, map[string]any{"id": c.arg, "object": "event", "redelivery": "queued"})
}

// serveListPayments is GET /payments without reference: the recorded
// payments, newest first, as the gateway recorded them (no provider call).
func (h *Handler) serveListPayments(w http.ResponseWriter, r *http.Request) error {
	lq, e := listQuery(r.URL.Query(), "provider", "status")
	if e != nil {
		return writeError(w, e)
	}
	l, e := h.eventLog()
	if e != nil {
		return writeError(w, e)
	}
	page, err := l.ListPayments(r.Context(), lq)
	if err != nil {
		return writeError(w, h.listError("listing payments", err))
	}
	data := make([]*providers.Payment, 0, len(page.Payments))
	for _, rec := range page.Payments {
		data = append(data, recordPayment(rec))
	}
	return writeJSON(w, http.StatusOK, listPage{Object: "list", Data: data, HasMore: page.HasMore, NextCursor: page.NextCursor})
}

// recordPayment shows a payment record in the canonical shape.
func recordPayment(rec *store.PaymentRecord) *providers.Payment {
	return &providers.Payment{
		ID: rec.ID, Object: "payment", Provider: rec.Provider, ProviderReference: rec.ProviderRef,
		Reference: rec.Reference, Amount: rec.Amount, Currency: rec.Currency, Status: rec.Status,
		AmountRefunded: rec.AmountRefunded, ProviderStatus: rec.ProviderStatus, ProviderMessage: rec.ProviderMessage,
		Test: rec.Test, CreatedAt: rec.CreatedAt.UTC(),
	}
}

// listError passes a store's canonical refusal (a bad cursor) through and
// hides any other error behind a 500, logging it.
func (h *Handler) listError(what string, err error) *providers.Error {
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe
	}
	h.logger.Error(what, zap.Error(err))
	return providers.Internal("the store could not be read")
}
