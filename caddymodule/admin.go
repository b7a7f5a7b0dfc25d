package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the operator's view of the running payments gateways, on
// Caddy's admin endpoint (module admin.api.payments, loaded by Caddy
// with the admin endpoint, whose own access controls apply: its listen
// address, origin checks, and remote admin's mTLS identities and
// per-path permissions). It has no configuration. Routes:
//
//	GET  /payments/gateways                        running gateways, by public_url
//	GET  /payments/outbox?gateway=&limit=&cursor=  outbox summary and queued entries
//	GET  /payments/outbox/{event_id}?gateway=      one queued entry
//	POST /payments/outbox/{event_id}/redeliver     make a queued entry due now
//	POST /payments/outbox/{event_id}/drop          remove it, recorded ({"reason": …, "by": …})
//	GET  /payments/outbox/dropped?gateway=         the dropped-event records
//
// gateway is the gateway's public_url; it may be left out when exactly
// one gateway runs. Listings carry events' metadata, never their bodies.
// Every error has the canonical body {"error": {…}}.
type AdminAPI struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.payments",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets up the admin routes' logger.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	return nil
}

// Routes returns the routes under /payments/.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: adminPrefix, Handler: caddy.AdminHandlerFunc(a.serve)}}
}

const adminPrefix = "/payments/"

// Listing page sizes, as in the canonical API's listings.
const (
	adminDefaultLimit = 20
	adminMaxLimit     = 100
)

// adminEntry is one queued event as listed: metadata only.
type adminEntry struct {
	EventID     string    `json:"event_id"`
	EventType   string    `json:"event_type"`
	Provider    string    `json:"provider"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt_at"`
	LastError   string    `json:"last_error,omitempty"`
	Created     time.Time `json:"created_at"`
}

func listed(e *store.OutboxEntry) adminEntry {
	return adminEntry{EventID: e.EventID, EventType: e.EventType, Provider: e.Provider, Attempts: e.Attempts,
		NextAttempt: e.NextAt.UTC(), LastError: e.LastError, Created: e.Created.UTC()}
}

// adminGateway is one running gateway as listed.
type adminGateway struct {
	PublicURL   string   `json:"public_url"`
	Providers   []string `json:"providers"`
	Storage     string   `json:"storage"`
	Outbox      bool     `json:"outbox"`
	OutboxDepth int      `json:"outbox_depth"`
}

// serve routes an admin request.
func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.Path, adminPrefix)
	parts := strings.Split(rest, "/")
	switch {
	case rest == "gateways":
		if !allowMethod(w, r, http.MethodGet, "/payments/gateways") {
			return nil
		}
		return a.listGateways(w, r)
	case rest == "outbox":
		if !allowMethod(w, r, http.MethodGet, "/payments/outbox") {
			return nil
		}
		return a.withGateway(w, r, a.outbox)
	case rest == "outbox/dropped":
		if !allowMethod(w, r, http.MethodGet, "/payments/outbox/dropped") {
			return nil
		}
		return a.withGateway(w, r, a.dropped)
	case len(parts) == 2 && parts[0] == "outbox" && parts[1] != "":
		if !allowMethod(w, r, http.MethodGet, "/payments/outbox/{event_id}") {
			return nil
		}
		return a.withGateway(w, r, func(w http.ResponseWriter, r *http.Request, h *Handler, adm store.OutboxAdmin) error {
			e, err := adm.OutboxEntry(r.Context(), parts[1])
			if err != nil {
				return a.storeError(w, h, parts[1], err)
			}
			return writeJSON(w, http.StatusOK, listed(e))
		})
	case len(parts) == 3 && parts[0] == "outbox" && parts[1] != "" && parts[2] == "redeliver":
		if !allowMethod(w, r, http.MethodPost, "/payments/outbox/{event_id}/redeliver") {
			return nil
		}
		return a.withGateway(w, r, func(w http.ResponseWriter, r *http.Request, h *Handler, adm store.OutboxAdmin) error {
			return a.redeliver(w, r, h, adm, parts[1])
		})
	case len(parts) == 3 && parts[0] == "outbox" && parts[1] != "" && parts[2] == "drop":
		if !allowMethod(w, r, http.MethodPost, "/payments/outbox/{event_id}/drop") {
			return nil
		}
		return a.withGateway(w, r, func(w http.ResponseWriter, r *http.Request, h *Handler, adm store.OutboxAdmin) error {
			return a.drop(w, r, h, adm, parts[1])
		})
	}
	return writeError(w, providers.NotFound("no admin route %s: see GET /payments/gateways, GET /payments/outbox, GET /payments/outbox/dropped, POST /payments/outbox/{event_id}/redeliver, POST /payments/outbox/{event_id}/drop", truncate(r.URL.Path, 200)))
}

// allowMethod answers 405 (canonical body, Allow header) unless r uses
// method.
func allowMethod(w http.ResponseWriter, r *http.Request, method, pattern string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	_ = writeError(w, &providers.Error{
		Type: providers.TypeInvalidRequest, Code: "method_not_allowed",
		Message:    "method " + truncate(r.Method, 32) + " is not allowed on " + pattern + "; allowed: " + method,
		HTTPStatus: http.StatusMethodNotAllowed, RequestSent: providers.SentNo,
	})
	return false
}

// withGateway finds the gateway the request names (query gateway, its
// public_url; optional when one runs) and calls fn with it.
func (a *AdminAPI) withGateway(w http.ResponseWriter, r *http.Request,
	fn func(w http.ResponseWriter, r *http.Request, h *Handler, adm store.OutboxAdmin) error) error {
	name := r.URL.Query().Get("gateway")
	var h *Handler
	if name == "" {
		urls, hs := runningGateways()
		switch len(hs) {
		case 0:
			return writeError(w, providers.NotFound("no payments gateway is running"))
		case 1:
			h = hs[0]
		default:
			return writeError(w, providers.Invalid("gateway", "several payments gateways are running: name one by its public_url (one of: %s)", strings.Join(urls, ", ")))
		}
	} else if h = lookupGateway(name); h == nil {
		urls, _ := runningGateways()
		e := providers.NotFound("no running payments gateway has public_url %s (running: %s)", truncate(name, 200), strings.Join(urls, ", "))
		e.Field = "gateway"
		return writeError(w, e)
	}
	adm, ok := h.store.(store.OutboxAdmin)
	if !ok {
		return writeError(w, providers.NotSupported("this gateway's state store does not offer the outbox admin operations"))
	}
	return fn(w, r, h, adm)
}

// storeError answers a store failure: 404 for an entry not queued, the
// canonical error of a bad input, else a logged 500.
func (a *AdminAPI) storeError(w http.ResponseWriter, h *Handler, eventID string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return writeError(w, providers.NotFound("no event %s is queued in the outbox of %s (delivered, dropped, or unknown)", truncate(eventID, 200), h.publicURL))
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		return writeError(w, pe)
	}
	a.logger.Error("reading the outbox", zap.String("gateway", h.publicURL.String()), zap.Error(err))
	return writeError(w, providers.Internal("the state store failed; see Caddy's log"))
}

// listGateways answers GET /payments/gateways.
func (a *AdminAPI) listGateways(w http.ResponseWriter, r *http.Request) error {
	urls, hs := runningGateways()
	out := make([]adminGateway, 0, len(hs))
	for i, h := range hs {
		g := adminGateway{PublicURL: urls[i], Providers: h.names, Outbox: !h.DisableOutbox}
		if g.Providers == nil {
			g.Providers = []string{}
		}
		if where, err := h.storeIdentity(); err == nil {
			g.Storage = where
		}
		if n, err := h.store.OutboxDepth(r.Context()); err == nil {
			g.OutboxDepth = n
		}
		out = append(out, g)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// pageParams reads limit (1–100, default 20) and cursor.
func pageParams(r *http.Request) (int, string, *providers.Error) {
	q := r.URL.Query()
	limit := adminDefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > adminMaxLimit {
			return 0, "", providers.Invalid("limit", "limit must be a whole number from 1 to %d", adminMaxLimit)
		}
		limit = n
	}
	return limit, q.Get("cursor"), nil
}

// outbox answers GET /payments/outbox: the summary and a page of entries.
func (a *AdminAPI) outbox(w http.ResponseWriter, r *http.Request, h *Handler, adm store.OutboxAdmin) error {
	limit, cursor, perr := pageParams(r)
	if perr != nil {
		return writeError(w, perr)
	}
	ctx := r.Context()
	depth, err := h.store.OutboxDepth(ctx)
	if err != nil {
		return a.storeError(w, h, "", err)
	}
	oldest, has, err := h.store.OldestEvent(ctx)
	if err != nil {
		return a.storeError(w, h, "", err)
	}
	entries, next, err := adm.ListOutbox(ctx, cursor, limit)
	if err != nil {
		return a.storeError(w, h, "", err)
	}
	data := make([]adminEntry, 0, len(entries))
	for _, e := range entries {
		data = append(data, listed(e))
	}
	out := map[string]any{
		"gateway": h.publicURL.String(), "depth": depth,
		"oldest_created_at": nil, "oldest_age_seconds": nil,
		"data": data, "has_more": next != "", "next_cursor": next,
	}
	if has {
		out["oldest_created_at"] = oldest.UTC()
		out["oldest_age_seconds"] = int64(max(h.now().Sub(oldest), 0) / time.Second)
	}
	return writeJSON(w, http.StatusOK, out)
}

// dropped answers GET /payments/outbox/dropped.
func (a *AdminAPI) dropped(w http.ResponseWriter, r *http.Request, h *Handler, adm store.OutboxAdmin) error {
	limit, cursor, perr := pageParams(r)
	if perr != nil {
		return writeError(w, perr)
	}
	recs, next, err := adm.ListDropped(r.Context(), cursor, limit)
	if err != nil {
		return a.storeError(w, h, "", err)
	}
	if recs == nil {
		recs = []*store.DroppedEvent{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"gateway": h.publicURL.String(), "data": recs, "has_more": next != "", "next_cursor": next,
	})
}

// redeliver answers POST /payments/outbox/{id}/redeliver: the entry is
// due now (its attempts and last error kept); the gateway's outbox
// worker takes it up on its next round, within a second.
func (a *AdminAPI) redeliver(w http.ResponseWriter, r *http.Request, h *Handler, adm store.OutboxAdmin, id string) error {
	ctx := r.Context()
	e, err := adm.OutboxEntry(ctx, id)
	if err != nil {
		return a.storeError(w, h, id, err)
	}
	now := h.now().UTC()
	if err := h.store.RescheduleEvent(ctx, id, e.Attempts, now, e.LastError); err != nil {
		return a.storeError(w, h, id, err)
	}
	h.logger.Info("redelivery requested on the admin API", zap.String("event_id", id), zap.String("event_type", e.EventType),
		zap.String("provider", e.Provider), zap.Int("attempts", e.Attempts), zap.String("remote_addr", r.RemoteAddr))
	e.NextAt = now
	return writeJSON(w, http.StatusAccepted, listed(e))
}

// Bounds of a drop request's fields.
const (
	maxDropReason = 500
	maxDropBy     = 100
)

// drop answers POST /payments/outbox/{id}/drop with a JSON body
// {"reason": "…", "by": "…"}: the entry leaves the outbox and a
// dropped-event record is kept; the drop is logged at WARN.
func (a *AdminAPI) drop(w http.ResponseWriter, r *http.Request, h *Handler, adm store.OutboxAdmin, id string) error {
	var in struct {
		Reason string `json:"reason"`
		By     string `json:"by"`
	}
	body, perr := h.readBody(w, r)
	if perr != nil {
		return writeError(w, perr)
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return writeError(w, &providers.Error{Type: providers.TypeInvalidRequest, Code: "invalid_json",
			Message: `the body must be a JSON object {"reason": "…", "by": "…"}`, RequestSent: providers.SentNo})
	}
	in.Reason, in.By = strings.TrimSpace(in.Reason), strings.TrimSpace(in.By)
	switch {
	case in.Reason == "":
		return writeError(w, providers.Missing("reason"))
	case len(in.Reason) > maxDropReason:
		return writeError(w, providers.Invalid("reason", "reason must be at most %d bytes", maxDropReason))
	case len(in.By) > maxDropBy:
		return writeError(w, providers.Invalid("by", "by must be at most %d bytes", maxDropBy))
	}
	by := "admin API client at " + r.RemoteAddr
	if in.By != "" {
		by = in.By + " (admin API client at " + r.RemoteAddr + ")"
	}
	rec, err := adm.DropEvent(r.Context(), &store.DroppedEvent{EventID: id, DroppedAt: h.now().UTC(), Reason: in.Reason, By: by})
	if err != nil {
		return a.storeError(w, h, id, err)
	}
	h.logger.Warn("event dropped from the outbox on the admin API: it will not be delivered to the shop",
		zap.String("event_id", rec.EventID), zap.String("event_type", rec.EventType), zap.String("provider", rec.Provider),
		zap.Int("attempts", rec.Attempts), zap.String("last_error", rec.LastError),
		zap.String("reason", rec.Reason), zap.String("by", rec.By))
	if n, err := h.store.OutboxDepth(r.Context()); err == nil {
		h.outboxDepth.Store(int64(n))
	}
	return writeJSON(w, http.StatusOK, rec)
}

// Interface guards.
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
)
