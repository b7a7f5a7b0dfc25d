package caddymodule

import (
	"context"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// tracerName names the gateway's spans' instrumentation scope.
const tracerName = "caddy-payments"

// Operations of provider calls that have no providers.Op* constant.
const (
	opVerifyReturn       = "verify_return"
	opLaunch             = "launch"
	opResendNotification = "resend_notification"
)

// tracer is the tracer of the trace ctx belongs to: with Caddy's
// `tracing` directive, the request's span's provider, so the gateway's
// spans are children of Caddy's; without one, a no-op.
func tracer(ctx context.Context) trace.Tracer {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer(tracerName)
}

// callDoer is the Doer of one provider operation: the host's HTTPDoer
// (transport, timeout, reply cap), with each HTTP request it sends
// counted and timed by account, operation, outcome and request_sent, and
// a child span of the caller's trace. Nothing of the request but its
// method and host is recorded: bodies, query strings and headers can
// carry credentials.
type callDoer struct {
	h                  *Handler
	account, operation string
}

// call is the Doer for operation on the provider account named account.
func (h *Handler) call(account, operation string) providers.Doer {
	return &callDoer{h: h, account: account, operation: operation}
}

// Do implements providers.Doer.
func (d *callDoer) Do(ctx context.Context, req *http.Request) (*providers.Reply, error) {
	ctx, span := tracer(ctx).Start(ctx, "payments provider "+d.operation,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("payments.provider", d.account),
			attribute.String("payments.operation", d.operation),
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Hostname()),
		))
	defer span.End()
	start := time.Now()
	reply, err := d.h.doer.Do(ctx, req)
	took := time.Since(start)

	outcome, sent, status := "ok", providers.SentYes, 0
	switch {
	case err != nil:
		outcome, sent = "error", providers.AsError(err).RequestSent
		if sent == "" {
			sent = providers.SentUnknown
		}
		span.SetStatus(codes.Error, providers.AsError(err).Code)
	case reply.StatusCode >= 500:
		outcome, status = "error", reply.StatusCode
		span.SetStatus(codes.Error, "provider answered "+http.StatusText(reply.StatusCode))
	case reply.StatusCode >= 400:
		outcome, status = "rejected", reply.StatusCode
	default:
		status = reply.StatusCode
	}
	if status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	span.SetAttributes(attribute.String("payments.outcome", outcome), attribute.String("payments.request_sent", sent))
	d.h.metrics.countProviderCall(d.account, d.operation, outcome, sent, took)
	noteReached(ctx, sent) // routing.go: a routed create never fails over past this call
	// The account's circuit breaker (breaker.go) counts failures of every
	// call and successes of creates; a call its caller gave up on (a
	// client that hung up, a caller's own deadline) says nothing about
	// the account.
	if failed := callFailed(status, err); ctx.Err() == nil && (failed || d.operation == providers.OpCreatePayment) {
		d.h.breakers[d.account].record(failed, probeToken(ctx, d.account))
	}
	return reply, err
}

// deliver forwards an event to the shop (forward) as one attempt of its
// delivery: counted by result and attempt number, and a child span of
// the request's trace (the notification's, or none for the outbox
// worker's redeliveries).
func (h *Handler) deliver(r *http.Request, next caddyhttp.Handler, provider, id, eventType string, attempt int, body []byte, native *store.NativeOriginal, timeout time.Duration) forwardResult {
	ctx, span := tracer(r.Context()).Start(r.Context(), "payments deliver event",
		trace.WithAttributes(
			attribute.String("payments.provider", provider),
			attribute.String("payments.event_type", eventType),
			attribute.Int("payments.attempt", attempt),
		))
	defer span.End()
	res := h.forward(r.WithContext(ctx), next, provider, id, eventType, body, native, timeout)
	result := deliveryResult(res)
	span.SetAttributes(attribute.String("payments.delivery_result", result))
	if res.Status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", res.Status))
	}
	if !res.Accepted() {
		span.SetStatus(codes.Error, "shop did not accept the event: "+result)
	}
	h.metrics.countDelivery(res, attempt)
	return res
}
