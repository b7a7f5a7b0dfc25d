package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-payments/caddy-payments/store"
)

// metricNames are the series the gateway registers (docs/operations.md
// "Metrics"; docs/grafana-dashboard.json may use only these).
var metricNames = []string{
	"caddy_payments_provider_calls_total",
	"caddy_payments_provider_call_duration_seconds",
	"caddy_payments_api_requests_total",
	"caddy_payments_notifications_total",
	"caddy_payments_deliveries_total",
	"caddy_payments_outbox_depth",
	"caddy_payments_outbox_oldest_age_seconds",
	"caddy_payments_reconcile_checks_total",
	"caddy_payments_reconcile_backlog",
	"caddy_payments_idempotency_total",
	"caddy_payments_route_attempts_total",
	"caddy_payments_breaker_state",
}

// gatewayMetrics are the gateway's collectors. Labels never carry
// merchant data, amounts, ids or secrets: only provider account names
// (the operator's block names), operation and route names, and small
// fixed sets of results. Its methods do nothing on a nil receiver.
type gatewayMetrics struct {
	// provider, operation, outcome (ok, rejected, error), request_sent
	// (yes, no, unknown): one per HTTP request to a provider.
	providerCalls    *prometheus.CounterVec
	providerDuration *prometheus.HistogramVec
	// route (the pattern, /payments/{id}), method, status.
	apiRequests *prometheus.CounterVec
	// provider, result (see countNotification).
	notifications *prometheus.CounterVec
	// result (accepted, rejected, failed, unanswered), attempt (1, 2-3, 4+).
	deliveries *prometheus.CounterVec
	// provider, result (changed, unchanged, failed): reconcile checks
	// that fetched the object from the provider.
	reconcileChecks *prometheus.CounterVec
	// route, result (replayed, key_reused, in_progress, outcome_unknown).
	idempotency *prometheus.CounterVec
	// provider, result (created, unsupported, circuit_open, not_sent,
	// failed): one per account a routed create considered (routing.go).
	routeAttempts *prometheus.CounterVec
	// provider: 0 closed (ok), 1 open, 2 half_open (breaker.go).
	breakerState *prometheus.GaugeVec
}

func newGatewayMetrics() *gatewayMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "caddy", Subsystem: "payments", Name: name, Help: help}, labels)
	}
	return &gatewayMetrics{
		providerCalls: counter("provider_calls_total",
			"HTTP requests to providers by account, operation, outcome (ok, rejected: a 4xx reply, error: a 5xx reply or no complete reply) and request_sent (yes, no, unknown).",
			"provider", "operation", "outcome", "request_sent"),
		providerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "caddy", Subsystem: "payments", Name: "provider_call_duration_seconds",
			Help:    "Duration of HTTP requests to providers, reply body included, by account, operation, outcome and request_sent.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30},
		}, []string{"provider", "operation", "outcome", "request_sent"}),
		apiRequests: counter("api_requests_total",
			"Requests to the gateway's routes by route pattern, method and response status.",
			"route", "method", "status"),
		notifications: counter("notifications_total",
			"Provider notifications by account and what the gateway made of them.",
			"provider", "result"),
		deliveries: counter("deliveries_total",
			"Attempts to deliver an event to the shop by result (accepted, rejected, failed, unanswered) and attempt number (1, 2-3, 4+).",
			"result", "attempt"),
		reconcileChecks: counter("reconcile_checks_total",
			"Reconcile checks that fetched a payment, refund or payout from its provider, by account and result (changed, unchanged, failed).",
			"provider", "result"),
		idempotency: counter("idempotency_total",
			"Requests with an Idempotency-Key that did not run again, by route and result (replayed, key_reused, in_progress, outcome_unknown).",
			"route", "result"),
		routeAttempts: counter("route_attempts_total",
			"Accounts a routed create (no provider in the request) considered, by account and result (created, unsupported, circuit_open, not_sent: failed before anything was sent, the next account may try; failed: failed after sending, no failover).",
			"provider", "result"),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "caddy", Subsystem: "payments", Name: "breaker_state",
			Help: "Circuit breaker of each provider account: 0 closed (health ok), 1 open, 2 half_open.",
		}, []string{"provider"}),
	}
}

// registerMetrics adds the gateway's collectors to this config's metrics
// registry (Caddy makes a new registry per config load, so this runs on
// every Provision; two gateways in one config share the collectors, and
// the first one's gauges).
func (h *Handler) registerMetrics(ctx caddy.Context) error {
	h.metrics = newGatewayMetrics()
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	m := h.metrics
	var err error
	if m.providerCalls, err = register(reg, m.providerCalls); err != nil {
		return err
	}
	if m.providerDuration, err = register(reg, m.providerDuration); err != nil {
		return err
	}
	if m.breakerState, err = register(reg, m.breakerState); err != nil {
		return err
	}
	for _, c := range []**prometheus.CounterVec{&m.apiRequests, &m.notifications, &m.deliveries, &m.reconcileChecks, &m.idempotency, &m.routeAttempts} {
		if *c, err = register(reg, *c); err != nil {
			return err
		}
	}
	depth := h.outboxDepth
	if _, err := register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "payments", Name: "outbox_depth",
		Help: "Events stored for redelivery to the shop, not yet accepted by it.",
	}, func() float64 { return float64(depth.Load()) })); err != nil {
		return err
	}
	oldest := &oldestAge{h: h}
	if _, err = register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "payments", Name: "outbox_oldest_age_seconds",
		Help: "Age of the oldest event waiting for delivery to the shop; 0 when none waits.",
	}, oldest.seconds)); err != nil {
		return err
	}
	if counter, ok := h.store.(store.BacklogCounter); ok {
		backlog := &reconcileBacklog{h: h, count: counter}
		_, err = register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "caddy", Subsystem: "payments", Name: "reconcile_backlog",
			Help: "Reconcile checks (payments, refunds, payouts) that are due and not yet taken by a worker; counted up to 10000.",
		}, backlog.value))
	}
	return err
}

// reconcileBacklog reads the number of due reconcile checks from the
// store at most once per oldestAgeTTL however often Prometheus scrapes
// (a count of the due index: nothing read when nothing is due).
type reconcileBacklog struct {
	h     *Handler
	count store.BacklogCounter
	mu    sync.Mutex
	read  time.Time
	n     int
}

// backlogLimit caps the count (and the index reads of one scrape).
const backlogLimit = 10000

func (b *reconcileBacklog) value() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.h.now()
	if now.Sub(b.read) >= oldestAgeTTL {
		ctx, cancel := context.WithTimeout(b.h.ctx, 2*time.Second)
		n, err := b.count.ReconcileBacklog(ctx, now, backlogLimit)
		cancel()
		if err == nil {
			b.read, b.n = now, n
		}
	}
	return float64(b.n)
}

// register registers c, or returns the collector already registered
// under its name.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if err == nil || !errors.As(err, &already) {
		return c, err
	}
	if existing, ok := already.ExistingCollector.(T); ok {
		return existing, nil
	}
	return c, nil
}

// oldestAge reads the oldest outbox entry's creation time from the store
// (a walk of the queue), at most once per oldestAgeTTL however often
// Prometheus scrapes.
type oldestAge struct {
	h       *Handler
	mu      sync.Mutex
	read    time.Time
	created time.Time // zero when the outbox was empty
}

const oldestAgeTTL = 5 * time.Second

func (o *oldestAge) seconds() float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.h.now()
	if now.Sub(o.read) >= oldestAgeTTL {
		ctx, cancel := context.WithTimeout(o.h.ctx, 2*time.Second)
		t, ok, err := o.h.store.OldestEvent(ctx)
		cancel()
		if err == nil {
			o.read, o.created = now, time.Time{}
			if ok {
				o.created = t
			}
		}
	}
	if o.created.IsZero() {
		return 0
	}
	return max(now.Sub(o.created).Seconds(), 0)
}

// countNotification counts one notification outcome: verified (an event
// from an authenticated notification), unverifiable_fetched (an event
// from an unverifiable one, its facts fetched from the provider),
// rejected (failed authentication or unparseable), duplicate (its event
// was already delivered or queued), unmapped, suspect, tampered,
// unconfirmed, needs_review, rate_limited.
func (h *Handler) countNotification(name, result string) {
	if h.metrics != nil {
		h.metrics.notifications.WithLabelValues(name, result).Inc()
	}
}

// countAPI counts one answered request to a gateway route.
func (m *gatewayMetrics) countAPI(route, method string, status int) {
	if m != nil {
		m.apiRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	}
}

// countDelivery counts one attempt to deliver an event to the shop.
func (m *gatewayMetrics) countDelivery(res forwardResult, attempt int) {
	if m != nil {
		m.deliveries.WithLabelValues(deliveryResult(res), attemptBucket(attempt)).Inc()
	}
}

// countReconcile counts one reconcile fetch.
func (m *gatewayMetrics) countReconcile(provider, result string) {
	if m != nil {
		m.reconcileChecks.WithLabelValues(provider, result).Inc()
	}
}

// countIdempotency counts a request answered from its Idempotency-Key.
func (m *gatewayMetrics) countIdempotency(route, result string) {
	if m != nil {
		m.idempotency.WithLabelValues(route, result).Inc()
	}
}

// countRouteAttempt counts one account a routed create considered.
func (m *gatewayMetrics) countRouteAttempt(provider, result string) {
	if m != nil {
		m.routeAttempts.WithLabelValues(provider, result).Inc()
	}
}

// setBreakerState sets an account's breaker gauge.
func (m *gatewayMetrics) setBreakerState(provider, health string) {
	if m == nil {
		return
	}
	v := 0.0
	switch health {
	case healthOpen:
		v = 1
	case healthHalfOpen:
		v = 2
	}
	m.breakerState.WithLabelValues(provider).Set(v)
}

// countProviderCall counts and times one HTTP request to a provider.
func (m *gatewayMetrics) countProviderCall(provider, operation, outcome, sent string, d time.Duration) {
	if m != nil {
		m.providerCalls.WithLabelValues(provider, operation, outcome, sent).Inc()
		m.providerDuration.WithLabelValues(provider, operation, outcome, sent).Observe(d.Seconds())
	}
}

// deliveryResult names what became of a delivery attempt.
func deliveryResult(res forwardResult) string {
	switch {
	case res.Accepted():
		return "accepted"
	case !res.Answered:
		return "unanswered"
	case res.Err != nil:
		return "failed"
	}
	return "rejected"
}

// attemptBucket is the attempt label: 1, 2-3 or 4+.
func attemptBucket(n int) string {
	switch {
	case n <= 1:
		return "1"
	case n <= 3:
		return "2-3"
	}
	return "4+"
}

// reconcileResult is the result label of a reconcile fetch that worked.
func reconcileResult(changed bool) string {
	if changed {
		return "changed"
	}
	return "unchanged"
}

// countRequest serves a request to a gateway route and counts it by the
// route's pattern (never the path, which holds ids), its method (one the
// route serves, else "other": methods are the client's to choose) and the
// response status.
func (h *Handler) countRequest(w http.ResponseWriter, r *http.Request, rt *route, next caddyhttp.Handler,
	serve func(http.ResponseWriter, *http.Request, *route, caddyhttp.Handler) error) error {
	sw := &statusWriter{ResponseWriter: w}
	err := serve(sw, r, rt, next)
	status := sw.status
	if status == 0 {
		status = http.StatusOK
		if err != nil {
			status = http.StatusInternalServerError
			var he caddyhttp.HandlerError
			if errors.As(err, &he) && he.StatusCode != 0 {
				status = he.StatusCode
			}
		}
	}
	method := "other"
	for _, o := range rt.ops {
		if o.method == r.Method {
			method = o.method
		}
	}
	h.metrics.countAPI(rt.pattern, method, status)
	return err
}

// statusWriter passes a response through and keeps its status.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(status int) {
	if sw.status == 0 {
		sw.status = status
	}
	sw.ResponseWriter.WriteHeader(status)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }
