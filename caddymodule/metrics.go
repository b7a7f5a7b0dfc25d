package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics adds the gateway's collectors to this config's metrics
// registry (Caddy makes a new registry per config load, so this runs on
// every Provision and tolerates duplicates). Labels never carry merchant
// data, amounts or secrets.
//
//	caddy_payments_outbox_depth           events waiting for redelivery to the shop
//	caddy_payments_notifications_total    notifications by account and result
//	                                      (unmapped, suspect, tampered,
//	                                      unconfirmed, needs_review,
//	                                      rate_limited)
func (h *Handler) registerMetrics(ctx caddy.Context) error {
	h.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "payments", Name: "notifications_total",
		Help: "Provider notifications by account and what the trust policy made of them.",
	}, []string{"provider", "result"})
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	depth := h.outboxDepth
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "payments", Name: "outbox_depth",
		Help: "Events stored for redelivery to the shop, not yet accepted by it.",
	}, func() float64 { return float64(depth.Load()) })
	var already prometheus.AlreadyRegisteredError
	if err := reg.Register(g); err != nil && !errors.As(err, &already) {
		return err
	}
	if err := reg.Register(h.notifications); err != nil {
		if !errors.As(err, &already) {
			return err
		}
		if existing, ok := already.ExistingCollector.(*prometheus.CounterVec); ok {
			h.notifications = existing
		}
	}
	return nil
}

// countNotification counts one notification outcome.
func (h *Handler) countNotification(name, result string) {
	if h.notifications != nil {
		h.notifications.WithLabelValues(name, result).Inc()
	}
}
