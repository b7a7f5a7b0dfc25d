package caddymodule

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Event is the canonical event forwarded to the shop.
type Event struct {
	ID            string         `json:"id"`
	Type          string         `json:"type"`
	CreatedAt     time.Time      `json:"created_at"`
	Provider      string         `json:"provider"`
	Data          any            `json:"data"`
	ProviderEvent map[string]any `json:"provider_event,omitempty"`

	// announce, when set, is the key that marks this object's status as
	// announced to the shop: the same status is not forwarded twice for one
	// object, even from different provider notifications (Razorpay sends
	// payment.captured and order.paid for one success).
	announce string
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

// forward sends the event to the next handler as a fresh POST: a new body
// with a correct Content-Length, and a fresh, allow-listed header set —
// never the provider's Authorization or signature headers. The
// webhook-timestamp is taken now, so every delivery attempt is fresh.
// What the next handler writes is captured, never shown to the provider.
// The attempt is cut after timeout (the shop then counts as not having
// accepted it).
func (h *Handler) forward(r *http.Request, next caddyhttp.Handler, id string, body []byte, timeout time.Duration) forwardResult {
	ts := h.now().Unix()
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	fr := r.Clone(ctx)
	fr.Method = http.MethodPost
	path := r.URL.Path
	if h.ForwardPath != "" {
		path = h.ForwardPath
	}
	u := *r.URL
	u.Path, u.RawPath, u.RawQuery, u.Fragment = path, "", "", ""
	fr.URL = &u
	fr.RequestURI = u.RequestURI()
	fr.Header = http.Header{
		"Content-Type":      {"application/json"},
		"Content-Length":    {strconv.Itoa(len(body))},
		"User-Agent":        {"caddy-payments"},
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {strconv.FormatInt(ts, 10)},
		"Webhook-Signature": {signStandardWebhooks(h.fwdKeys, id, ts, body)},
	}
	fr.Trailer = nil
	fr.TransferEncoding = nil
	fr.ContentLength = int64(len(body))
	fr.Body = io.NopCloser(bytes.NewReader(body))
	fr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }

	cw := &captureWriter{header: http.Header{}}
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
