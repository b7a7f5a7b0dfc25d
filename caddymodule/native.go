package caddymodule

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

// Native forwarding (forward_format native): a shop written against a
// provider's own notification format receives the provider's original
// request — method, Content-Type and body byte for byte, the provider's
// signature header — instead of the canonical event, once the gateway
// verified it and established every claim in it exactly as it does for a
// canonical event. The delivery keeps everything else of a canonical one:
// the event id as webhook-id, the Standard Webhooks signature (over the
// body sent, the original), the outbox with its retries, redelivery, the
// Events API (which serves the canonical event under that id).
//
// An event reaches a native-mode shop in canonical form, marked
// Payments-Format: canonical, when it has no authenticated original:
// a notification whose scheme cannot be checked (payabl.'s 40-hex
// security), one authenticated only by credentials (PaySage's HTTP Basic,
// never forwarded), one whose original a shop could read differently
// from the gateway, one whose claims the gateway did not take as they
// stand (a fetch said otherwise, an unsigned amount or reference differs
// from what the gateway established), and every event the reconciler
// finds.

// Headers of a delivery to a native-mode shop.
const (
	headerEventType = "Payments-Event-Type"
	headerPaymentID = "Payments-Payment-Id"
	headerFormat    = "Payments-Format"
)

// nativeMode reports whether an account forwards in native format.
func (h *Handler) nativeMode(name string) bool {
	f, ok := h.providers[name].(interface{ ForwardsNative() bool })
	return ok && f.ForwardsNative()
}

// nativeOriginal returns what a native-mode account's shop receives of
// the notification in (verified as n) that made ev, or nil when ev goes
// in canonical form (always for an account in canonical format). Only a
// notification whose every claim the shop could act on — the object, the
// status, the amount and currency, the merchant reference — was verified
// by the provider's signature or established by the gateway (a fetch, the
// record) as it stands in the original is sent in its original form.
func (h *Handler) nativeOriginal(ctx context.Context, name string, p providers.Provider, in *providers.IncomingNotification, n *providers.Notification, ev *Event, evBody []byte) *store.NativeOriginal {
	if !h.nativeMode(name) {
		return nil
	}
	// A refund notification may carry its payment's merchant reference
	// (payabl.'s orderid does): the record of that payment confirms it.
	paymentRef := func(id string) string {
		rec, err := h.store.GetPayment(ctx, id)
		if err != nil {
			return ""
		}
		return rec.Reference
	}
	orig, why := nativeOf(p, in, n, ev, evBody, paymentRef)
	if orig == nil {
		h.logger.Info("event goes to the native-mode shop in canonical form (Payments-Format: canonical)",
			zap.String("provider", name), zap.String("event_id", ev.ID), zap.String("event_type", ev.Type), zap.String("reason", why))
	}
	return orig
}

// nativeOf applies the rules of nativeOriginal; it returns the original,
// or nil and why not.
func nativeOf(p providers.Provider, in *providers.IncomingNotification, n *providers.Notification, ev *Event, evBody []byte,
	paymentRef func(paymentID string) string) (*store.NativeOriginal, string) {
	if in == nil || n.Trust.Object == providers.Unsigned {
		return nil, "the notification could not be authenticated"
	}
	oa, ok := p.(providers.OriginalAuthenticator)
	if !ok {
		return nil, "the provider has no native format"
	}
	hdr, ok := oa.OriginalAuth(in, n)
	if !ok {
		return nil, "the original carries no signature a shop could check"
	}
	if ev.Type != n.EventType {
		return nil, "the provider's fetch contradicts what the notification claims"
	}
	data := gjson.GetBytes(evBody, "data")
	if n.Trust.Amount == providers.Unsigned && n.Currency != "" &&
		(n.Amount != data.Get("amount").Int() || n.Currency != data.Get("currency").String()) {
		return nil, "the notification's unsigned amount is not the one the gateway established"
	}
	if n.Trust.Reference == providers.Unsigned && n.Reference != "" && n.Reference != data.Get("reference").String() &&
		(n.Object != "refund" || data.Get("payment_id").String() == "" || n.Reference != paymentRef(data.Get("payment_id").String())) {
		return nil, "the notification's unsigned reference is not the one the gateway established"
	}
	orig := &store.NativeOriginal{Method: in.Method, Body: in.Body}
	if orig.Method == "" {
		orig.Method = http.MethodPost
	}
	if ct := in.Header.Values("Content-Type"); len(ct) == 1 {
		if _, _, err := mime.ParseMediaType(ct[0]); err == nil {
			orig.ContentType = ct[0]
		}
	}
	switch len(hdr) {
	case 0:
	case 1:
		for k, vs := range hdr {
			if len(vs) != 1 || !forwardableHeader(k) {
				return nil, "the provider's signature header cannot be forwarded"
			}
			orig.SignatureHeader, orig.Signature = http.CanonicalHeaderKey(k), vs[0]
		}
	default:
		return nil, "the provider's signature is in more than one header"
	}
	return orig, ""
}

// forwardableHeader reports whether a provider's signature header may go
// to the shop: never credentials or cookies, nothing hop-by-hop, and none
// of the headers the gateway sets itself.
func forwardableHeader(k string) bool {
	switch strings.ToLower(k) {
	case "authorization", "proxy-authorization", "cookie", "set-cookie",
		"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
		"host", "content-length", "content-type", "user-agent", "forwarded":
		return false
	}
	l := strings.ToLower(k)
	return !strings.HasPrefix(l, "webhook-") && !strings.HasPrefix(l, "payments-") && !strings.HasPrefix(l, "x-forwarded-")
}

// eventMessage is the method, headers and body of one delivery attempt
// of event id (type eventType, canonical body body) of an account:
// the canonical event with the webhook-* headers; for a native-mode
// account the original (native) when there is one, else the canonical
// event, each with the Payments-* headers. ts is the webhook-timestamp.
func (h *Handler) eventMessage(provider, id, eventType string, body []byte, native *store.NativeOriginal, ts int64) (string, http.Header, []byte) {
	if !h.nativeMode(provider) {
		return http.MethodPost, h.canonicalHeader(id, ts, body), body
	}
	format, method, out := providers.FormatCanonical, http.MethodPost, body
	var header http.Header
	if native != nil {
		format, method, out = providers.FormatNative, native.Method, native.Body
		header = http.Header{
			"Content-Length":    {strconv.Itoa(len(out))},
			"User-Agent":        {"caddy-payments"},
			"Webhook-Id":        {id},
			"Webhook-Timestamp": {strconv.FormatInt(ts, 10)},
			"Webhook-Signature": {signStandardWebhooks(h.fwdKeys, id, ts, out)},
		}
		if native.ContentType != "" {
			header.Set("Content-Type", native.ContentType)
		}
		if native.SignatureHeader != "" && forwardableHeader(native.SignatureHeader) {
			header.Set(native.SignatureHeader, native.Signature)
		}
	} else {
		header = h.canonicalHeader(id, ts, body)
	}
	header.Set(headerFormat, format)
	header.Set(headerEventType, eventType)
	data := gjson.GetBytes(body, "data")
	payment := data.Get("id").String()
	if data.Get("object").String() != "payment" {
		payment = data.Get("payment_id").String()
	}
	if strings.HasPrefix(eventType, "payout.") {
		payment = ""
	}
	if payment != "" {
		header.Set(headerPaymentID, payment)
	}
	return method, header, out
}
