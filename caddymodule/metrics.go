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
//	caddy_payments_outbox_depth   events waiting for redelivery to the shop
func (h *Handler) registerMetrics(ctx caddy.Context) error {
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
	return nil
}
