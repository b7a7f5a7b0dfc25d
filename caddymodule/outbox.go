package caddymodule

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/store"
)

// defaultRetrySchedule is the Standard Webhooks / Svix schedule, after the
// immediate first attempt.
var defaultRetrySchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

const (
	// defaultForwardTimeout bounds one delivery attempt to the shop, as
	// Svix does (15 s).
	defaultForwardTimeout = 15 * time.Second
	// inlineForwardCap bounds the attempt made while the provider waits for
	// its acknowledgement when the outbox is on: Razorpay wants a 2xx
	// within 5 seconds, and the stored event is retried anyway.
	inlineForwardCap = 4 * time.Second
	// leaseMargin is added to the longest an attempt can take to make a
	// claim's lease, so a live worker's claim never runs out mid-attempt.
	leaseMargin = 15 * time.Second
	// outboxRound bounds the entries (or checks) one worker round takes.
	// They are claimed one at a time, so each lease covers one attempt
	// and an entry never waits behind a batch claimed by a dead worker.
	outboxRound = 100
)

// forwardTimeout is the configured forward_timeout or its default.
func (h *Handler) forwardTimeout() time.Duration {
	if h.ForwardTimeout > 0 {
		return time.Duration(h.ForwardTimeout)
	}
	return defaultForwardTimeout
}

// inlineForwardTimeout bounds the attempt made inside the provider's
// notification request.
func (h *Handler) inlineForwardTimeout() time.Duration {
	if h.DisableOutbox {
		return h.forwardTimeout()
	}
	return min(h.forwardTimeout(), inlineForwardCap)
}

// outboxLease is how long a claimed entry is left to the one attempt that
// claimed it; after a worker died mid-attempt (kill -9), the entry is
// taken up again this long after the claim.
func (h *Handler) outboxLease() time.Duration { return h.forwardTimeout() + leaseMargin }

// reconcileLease covers one reconcile check: a provider call, then the
// storing of its event.
func (h *Handler) reconcileLease() time.Duration {
	return h.providerTimeout() + h.forwardTimeout() + leaseMargin
}

// outboxEntry builds the durable record of an event (with the original
// notification a native-mode account sends, if any). Host and path are the
// original request's (before any handle_path stripping), so redelivery
// travels the same Caddy routes to the shop.
func (h *Handler) outboxEntry(r *http.Request, name string, ev *Event, body []byte, native *store.NativeOriginal) *store.OutboxEntry {
	now := h.now().UTC()
	// Caddy's copy of the original request keeps its URL (before
	// handle_path stripped a prefix) but not its Host, which no handler
	// rewrites.
	path := r.URL.Path
	if o, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && o.URL != nil {
		path = o.URL.Path
	}
	server := ""
	if s, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && s != nil {
		server = s.Name()
	}
	return &store.OutboxEntry{
		EventID: ev.ID, Announce: ev.announce, Provider: name, EventType: ev.Type, Body: body,
		Server: server, Host: r.Host, Path: path,
		NextAt: now.Add(h.outboxLease()), Created: now, Native: native,
	}
}

// nextAttempt is when attempt number n+1 is due after n failed ones.
func (h *Handler) nextAttempt(n int) time.Time {
	sched := defaultRetrySchedule
	if len(h.RetrySchedule) > 0 {
		sched = make([]time.Duration, len(h.RetrySchedule))
		for i, d := range h.RetrySchedule {
			sched[i] = time.Duration(d)
		}
	}
	i := n - 1
	if i >= len(sched) {
		i = len(sched) - 1
	}
	if i < 0 {
		i = 0
	}
	d := sched[i]
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(d)) // ±20%
	return h.now().Add(d + jitter)
}

// pollInterval is how often the worker looks for due entries: a second,
// or less when the schedule's first delay is shorter (tests).
func (h *Handler) pollInterval() time.Duration {
	p := time.Second
	for _, s := range [][]caddy.Duration{h.RetrySchedule, h.ReconcileSchedule} {
		if len(s) > 0 && time.Duration(s[0])/2 < p {
			p = max(time.Duration(s[0])/2, 10*time.Millisecond)
		}
	}
	return p
}

// runOutbox redelivers queued events until the config is unloaded.
func (h *Handler) runOutbox(ctx context.Context) {
	t := time.NewTicker(h.pollInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.reconcileDue(ctx)
			h.deliverDue(ctx)
			h.pruneEvents(ctx) // api_events.go
		}
	}
}

// eachDue makes one worker round over a queue: it claims one due item at
// a time (so each lease covers one attempt) and hands it to do, until none
// is due, outboxRound items were done, or ctx ends.
func eachDue[T any](ctx context.Context, h *Handler, queue string, claim func(now time.Time) ([]*T, error), do func(*T)) {
	for range outboxRound {
		if ctx.Err() != nil {
			return
		}
		items, err := claim(h.now().UTC())
		if err != nil {
			if ctx.Err() == nil {
				h.logger.Error("reading the "+queue, zap.Error(err))
			}
			return
		}
		if len(items) == 0 {
			return
		}
		do(items[0])
	}
}

// deliverDue makes one round of redelivery attempts.
func (h *Handler) deliverDue(ctx context.Context) {
	eachDue(ctx, h, "outbox",
		func(now time.Time) ([]*store.OutboxEntry, error) {
			return h.store.ClaimDueEvents(ctx, now, 1, h.outboxLease())
		},
		func(e *store.OutboxEntry) { h.redeliver(ctx, e) })
	if n, err := h.store.OutboxDepth(ctx); err == nil {
		h.outboxDepth.Store(int64(n))
	}
}

// redeliveryKey marks an in-process request that carries an outbox entry
// to the gateway handler; being a context value, no client can forge it.
type redeliveryKey struct{}

// redelivery is the entry to deliver and, once a gateway handler took it,
// the outcome.
type redelivery struct {
	entry   *store.OutboxEntry
	handled bool
	result  forwardResult
}

// redeliver sends one entry through the HTTP server it came in on: a
// synthetic request to the original host and path (nothing else of the
// notification: no headers, no body), which Caddy routes to the gateway
// handler like the notification (handle_path and all), which then forwards
// the stored event (freshly signed) to the next handler in a request of
// its own, built as for the first attempt (eventRequest).
func (h *Handler) redeliver(ctx context.Context, e *store.OutboxEntry) {
	attempt := e.Attempts + 1
	fail := func(reason string) {
		if err := h.store.RescheduleEvent(ctx, e.EventID, attempt, h.nextAttempt(attempt), reason); err != nil && ctx.Err() == nil {
			h.logger.Error("scheduling redelivery", zap.String("event_id", e.EventID), zap.Error(err))
		}
		h.logger.Warn("redelivery failed; will retry", zap.String("provider", e.Provider), zap.String("event_id", e.EventID),
			zap.Int("attempt", attempt), zap.String("reason", reason))
	}
	srv := h.server(e.Server)
	if srv == nil {
		fail("HTTP server " + e.Server + " is not in the running config")
		return
	}
	rd := &redelivery{entry: e}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, redeliveryKey{}, rd), http.MethodPost, "http://"+e.Host+e.Path, http.NoBody)
	if err != nil {
		fail("bad stored address")
		return
	}
	req.Host, req.RequestURI, req.RemoteAddr = e.Host, e.Path, gatewayRemoteAddr
	srv.ServeHTTP(&captureWriter{header: http.Header{}}, req)
	switch {
	case !rd.handled:
		fail("no payments handler serves " + e.Host + e.Path + " any more")
	case rd.result.Accepted():
		h.markDelivered(ctx, e.EventID, e.Announce)
		h.logger.Info("event redelivered", zap.String("provider", e.Provider), zap.String("event_id", e.EventID),
			zap.String("event_type", e.EventType), zap.Int("attempt", attempt), zap.Int("shop_status", rd.result.Status))
	default:
		fail(h.logForwardFailure(e.Provider, e.EventID, e.EventType, rd.result))
	}
}

// server finds a running HTTP server by name.
func (h *Handler) server(name string) *caddyhttp.Server {
	app, err := h.ctx.App("http")
	if err != nil {
		return nil
	}
	httpApp, ok := app.(*caddyhttp.App)
	if !ok {
		return nil
	}
	return httpApp.Servers[name]
}

// serveRedelivery is the gateway side of redeliver: it forwards the stored
// event to the next handler.
func (h *Handler) serveRedelivery(r *http.Request, next caddyhttp.Handler, rd *redelivery) error {
	rd.handled = true
	e := rd.entry
	rd.result = h.deliver(r, next, e.Provider, e.EventID, e.EventType, e.Attempts+1, e.Body, e.Native, h.forwardTimeout())
	return nil
}
