package razorpay

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"

	"github.com/caddy-payments/caddy-payments/providers"
)

// Launch implements providers.Launcher: the customer's browser opened the
// one-time launch URL, so make the order's single payment attempt through
// the documented redirect variant (POST /v1/payments/create/redirect) with
// the browser's own user agent and referer, and hand Razorpay's HTML page
// back for the host to serve. CreatePayment made only the order, so this
// is the only attempt the gateway makes on it; the launch URL works once.
//
// A payment create has no idempotency mechanism (reference §10): a reply
// that leaves the outcome unknown is not retryable, and the payment is
// looked up (GET /payments/{id}) rather than launched again.
//
// The browser's IP address is not in what the host passes (only method,
// headers and query), and a client-supplied X-Forwarded-For is not trusted
// for Razorpay's risk checks, so the IP stays the customer.ip the merchant
// gave at create.
func (p *Provider) Launch(ctx context.Context, do providers.Doer, data string, browser *providers.IncomingNotification) (*providers.Reply, error) {
	var body paymentRequest
	if err := json.Unmarshal([]byte(data), &body); err != nil || !orderIDRe.MatchString(body.OrderID) {
		return nil, providers.Internal("the checkout link's data could not be read")
	}
	if browser != nil && browser.Header != nil {
		if ua := browser.Header.Get("User-Agent"); ua != "" && len(ua) <= 1024 {
			body.UserAgent = ua
		}
		if ref := browser.Header.Get("Referer"); ref != "" {
			if u, err := url.Parse(ref); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
				body.Referer = ref
			}
		}
	}
	reply, err := p.call(ctx, do, request{method: http.MethodPost, path: "/v1/payments/create/redirect", body: &body, fields: createFields}, nil)
	if err != nil {
		return nil, notIdempotent(err, "the shop looks the payment up (GET /payments/{id}) instead of launching it again")
	}
	// Only the page and its type reach the browser: no Razorpay header
	// (cookies, tracing) is passed through.
	ct := reply.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/html" {
		ct = "text/html; charset=utf-8"
	}
	return &providers.Reply{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {ct}}, Body: reply.Body}, nil
}
