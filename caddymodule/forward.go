package caddymodule

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-payments/caddy-payments/store"
)

// Event is the canonical event forwarded to the shop.
type Event struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	CreatedAt     time.Time       `json:"created_at"`
	Provider      string          `json:"provider"`
	Data          any             `json:"data"`
	ProviderEvent json.RawMessage `json:"provider_event,omitempty"`

	// announce, when set, is the key that marks this object's status as
	// announced to the shop: the same status is not forwarded twice for one
	// object, even from different provider notifications (Razorpay sends
	// payment.captured and order.paid for one success).
	announce string
}

// canonicalHeader is the header set of a canonical event's delivery.
func (h *Handler) canonicalHeader(id string, ts int64, body []byte) http.Header {
	return http.Header{
		"Content-Type":      {"application/json"},
		"Content-Length":    {strconv.Itoa(len(body))},
		"User-Agent":        {"caddy-payments"},
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {strconv.FormatInt(ts, 10)},
		"Webhook-Signature": {signStandardWebhooks(h.fwdKeys, id, ts, body)},
	}
}

// signStandardWebhooks returns the webhook-signature header value for a
// message: one "v1,<base64 HMAC-SHA256>" entry per key, space-separated,
// over "{id}.{timestamp}.{body}" (Standard Webhooks).
func signStandardWebhooks(keys [][]byte, id string, ts int64, body []byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(strconv.FormatInt(ts, 10)))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// forwardResult is what the handlers after the gateway did with an event.
type forwardResult struct {
	Status int
	// Answered is false when no handler wrote anything: a configuration
	// error (nothing after `payments` to receive events).
	Answered bool
	Err      error
}

// Accepted reports whether the shop took the event (a 2xx).
func (f forwardResult) Accepted() bool {
	return f.Err == nil && f.Answered && f.Status >= 200 && f.Status < 300
}

// forward sends the event to the next handler as a fresh POST (see
// eventRequest): never the provider's Authorization, signature or other
// headers, Host or client address. The webhook-timestamp is taken now, so
// every delivery attempt is fresh. What the next handler writes is
// captured, never shown to the provider. The attempt is cut after timeout
// (the shop then counts as not having accepted it), or when r's context
// ends (the provider hung up, or the config is unloaded).
//
// r is the request that reached the gateway: the provider's notification
// for the attempt made at once, or the outbox's in-process request for a
// redelivery. Both take this one way to the shop.
//
// For an account in forward_format native, the request carries the
// stored original (native) instead, or the canonical event marked as
// such (eventMessage, native.go).
func (h *Handler) forward(r *http.Request, next caddyhttp.Handler, provider, id, eventType string, body []byte, native *store.NativeOriginal, timeout time.Duration) forwardResult {
	method, header, body := h.eventMessage(provider, id, eventType, body, native, h.now().Unix())
	path := r.URL.Path
	if h.ForwardPath != "" {
		path = h.ForwardPath
	}
	// A context that carries none of r's values, only its end.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	defer context.AfterFunc(r.Context(), cancel)()

	cw := &captureWriter{header: http.Header{}}
	fr := h.eventRequest(ctx, r, cw, method, path, header, body)
	err := next.ServeHTTP(cw, fr)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // the next handler wrote what it had when time ran out
	}
	if err != nil {
		return forwardResult{Err: err, Status: statusOf(err), Answered: true}
	}
	status := cw.status
	if status == 0 && cw.wrote {
		status = http.StatusOK
	}
	return forwardResult{Status: status, Answered: status != 0}
}

// gatewayRemoteAddr is the client address of the requests the gateway
// makes itself (events to the shop, redelivery): the gateway, on loopback.
const gatewayRemoteAddr = "127.0.0.1:0"

// routeGroupsKey is the context key under which caddyhttp keeps the route
// groups a request has already satisfied (its unexported
// routeGroupCtxKey): the event continues r's route chain, so a later
// route of a group r already matched (a sibling `handle`) stays skipped,
// as it would be for r itself.
const routeGroupsKey = caddy.CtxKey("route_group")

// eventRequest builds the request that carries an event to the handlers
// after the gateway. It is new, never a copy of via (the request that
// reached the gateway, whose headers, Host, client address and TLS state
// are the provider's, or an attacker's): POST to path, Host from
// public_url, only header, the body with its length, HTTP/1.1 without
// TLS, from the gateway on loopback. ctx must carry none of via's values.
// Caddy then prepares it as it prepares every request it receives
// (caddyhttp.PrepareRequest): a new replacer in which {http.request.*}
// describe this request while global placeholders ({env.*}, {system.*},
// {time.*}, {file.*}) work as everywhere; new vars (client_ip is the
// gateway), via's HTTP server. Of via only the route groups it already
// satisfied are kept (a copy), so the rest of the route chain runs as for
// via. Nothing else that handlers before the gateway set on via (vars,
// map, authentication placeholders) reaches the event.
func (h *Handler) eventRequest(ctx context.Context, via *http.Request, w http.ResponseWriter, method, path string, header http.Header, body []byte) *http.Request {
	u := &url.URL{Path: path}
	fr := (&http.Request{
		Method:        method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          io.NopCloser(bytes.NewReader(body)),
		GetBody:       func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
		ContentLength: int64(len(body)),
		Host:          h.publicURL.Host,
		RemoteAddr:    gatewayRemoteAddr,
		RequestURI:    u.RequestURI(),
	}).WithContext(ctx)
	srv, _ := via.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	fr = caddyhttp.PrepareRequest(fr, caddy.NewReplacer(), w, srv)
	if g, ok := via.Context().Value(routeGroupsKey).(map[string]struct{}); ok {
		// In place: the replacer describes this very *http.Request.
		*fr = *fr.WithContext(context.WithValue(fr.Context(), routeGroupsKey, maps.Clone(g)))
	}
	return fr
}

func statusOf(err error) int {
	if he, ok := err.(caddyhttp.HandlerError); ok {
		return he.StatusCode
	}
	return http.StatusInternalServerError
}

// captureWriter records the status of what later handlers write and keeps
// at most a little of the body (for logs); nothing reaches the provider.
type captureWriter struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 && status >= 200 {
		c.status = status
	}
}

func (c *captureWriter) Write(p []byte) (int, error) {
	c.wrote = true
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if room := 1024 - c.body.Len(); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		c.body.Write(p[:room])
	}
	return len(p), nil
}
