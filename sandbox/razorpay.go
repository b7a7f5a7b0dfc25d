package sandbox

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Razorpay emulator: Orders + S2S payments with method "app", provider
// "trustly", refunds and account-level webhooks, in test mode only.
//
// Paths, under <prefix>/razorpay (every /v1 path needs HTTP Basic
// key_id:key_secret, else 401 with Razorpay's error envelope):
//
//	POST /v1/orders                          create an order (JSON)
//	GET  /v1/orders?receipt=&count=&skip=    list orders, newest first
//	GET  /v1/orders/<order_id>               fetch an order
//	GET  /v1/orders/<order_id>/payments      every payment attempt of the order, newest first
//	POST /v1/payments/create/json            create a Trustly payment; reply {razorpay_payment_id, next:[poll]}
//	POST /v1/payments/create/redirect        same body; reply the HTML "Processing, Please Wait…" page
//	GET  /v1/payments/<pay_id>               the payment entity
//	GET  /v1/payments/<pay_id>/status        the poll URL of the create reply (undocumented contract; see paymentStatus)
//	POST /v1/payments/<pay_id>/capture       capture an authorized payment (orders with manual capture)
//	POST /v1/payments/<pay_id>/refund        refund (X-Refund-Idempotency honoured)
//	GET  /v1/payments/<pay_id>/refunds       refunds of a payment, newest first
//	GET  /v1/payments/<pay_id>/refunds/<id>  one refund of a payment
//	GET  /v1/refunds/<rfnd_id>               one refund
//	GET  /checkout/<token>                   the hosted checkout page (Approve / Decline), no auth
//	GET  /_sandbox/payments                  sandbox-only JSON listing with webhook deliveries
//	POST /_sandbox/payments/<pay_id>/approve|decline  sandbox-only scripted Approve / Decline
//
// Lifecycle of a payment (automatic capture, the default):
//
//	create/json or create/redirect → created (order attempted)
//	Approve → authorized [payment.authorized] → captured [payment.captured],
//	          order paid [order.paid]; browser POSTs razorpay_payment_id,
//	          razorpay_order_id, razorpay_signature to callback_url
//	Decline → failed [payment.failed]; browser POSTs error[...] to callback_url
//	refund  → refund processed [refund.created, refund.processed];
//	          payment refund_status partial/full, status refunded when full
//
// With notify_delay > 0 the capture (and its webhooks) comes notify_delay
// after the authorization, so the authorized state can be watched. An
// order created with "payment":{"capture":"manual"} stops at authorized
// until POST /v1/payments/<id>/capture.

// Defaults: the sandbox's own test keys (design decision; Razorpay
// publishes no shared test account).
const (
	DefaultRazorpayKeyID         = "rzp_test_sandbox"
	DefaultRazorpayKeySecret     = "sandbox_key_secret"
	DefaultRazorpayWebhookSecret = "sandbox_webhook_secret"
	// razorpayAccountID is the account_id every webhook names: "acc_" and
	// 14 alphanumerics, like Razorpay's ids.
	razorpayAccountID = "acc_SandboxAcct001"
)

// RazorpayConfig configures the Razorpay emulator. Every value may be a
// {env.*} or {file.*} placeholder, resolved in Provision.
type RazorpayConfig struct {
	// KeyID is the API key id requests must authenticate with. Default
	// "rzp_test_sandbox". It must start with "rzp_test_": the sandbox only
	// ever emulates test mode, and Razorpay decides the mode by the key.
	KeyID string `json:"key_id,omitempty"`

	// KeySecret is the API key secret (HTTP Basic password) and the key of
	// the razorpay_signature sent to callback_url. Default
	// "sandbox_key_secret".
	KeySecret string `json:"key_secret,omitempty"`

	// WebhookSecret is the secret of the account's webhook (set in the
	// Razorpay Dashboard in real life). Default "sandbox_webhook_secret".
	WebhookSecret string `json:"webhook_secret,omitempty"`

	// WebhookSigningSecret, when set, signs webhooks instead of
	// WebhookSecret. Razorpay signs retries of older events with the secret
	// that was current when the event was created (reference §8.1), so a
	// test sets this to the previous secret to check that the receiver
	// still accepts it after a rotation.
	WebhookSigningSecret string `json:"webhook_signing_secret,omitempty"`

	// WebhookURL receives every webhook (Razorpay's webhooks are
	// account-level, configured in the Dashboard, not per request). Empty:
	// no webhooks are sent; the inspection listing says so.
	WebhookURL string `json:"webhook_url,omitempty"`
}

// razorpay is the emulator's state. All fields below mu are guarded by it.
type razorpay struct {
	env       *env
	keyID     string
	keySecret string
	// webhookSecret signs webhooks: webhook_signing_secret when set, else
	// webhook_secret.
	webhookSecret string
	// signingLabel names the config option whose secret signs webhooks, for
	// the inspection listing (never the secret itself).
	signingLabel string
	webhookURL   string

	mu         sync.Mutex
	orders     map[string]*rzpOrder
	orderList  []*rzpOrder
	payments   map[string]*rzpPayment
	payList    []*rzpPayment
	byToken    map[string]*rzpPayment
	refunds    map[string]*rzpRefund
	idempotent map[string]*rzpIdempotent
}

// newRazorpay builds the emulator, resolving placeholders.
func newRazorpay(e *env, cfg *RazorpayConfig) (*razorpay, error) {
	r := &razorpay{
		env:           e,
		keyID:         DefaultRazorpayKeyID,
		keySecret:     DefaultRazorpayKeySecret,
		webhookSecret: DefaultRazorpayWebhookSecret,
		signingLabel:  "webhook_secret",
		orders:        map[string]*rzpOrder{},
		payments:      map[string]*rzpPayment{},
		byToken:       map[string]*rzpPayment{},
		refunds:       map[string]*rzpRefund{},
		idempotent:    map[string]*rzpIdempotent{},
	}
	var signing string
	if cfg != nil {
		repl := caddy.NewReplacer()
		// The error of ReplaceOrErr is never wrapped: it could quote a secret.
		for _, f := range []struct {
			name string
			in   string
			out  *string
		}{
			{"key_id", cfg.KeyID, &r.keyID},
			{"key_secret", cfg.KeySecret, &r.keySecret},
			{"webhook_secret", cfg.WebhookSecret, &r.webhookSecret},
			{"webhook_signing_secret", cfg.WebhookSigningSecret, &signing},
			{"webhook_url", cfg.WebhookURL, &r.webhookURL},
		} {
			if f.in == "" {
				continue
			}
			v, err := repl.ReplaceOrErr(f.in, true, true)
			if err != nil || v == "" {
				return nil, errors.New(f.name + ": placeholder did not resolve to a value")
			}
			*f.out = v
		}
	}
	if !strings.HasPrefix(r.keyID, "rzp_test_") || len(r.keyID) == len("rzp_test_") {
		return nil, errors.New(`key_id: must start with "rzp_test_" (the sandbox only emulates test mode)`)
	}
	if r.webhookURL != "" {
		u, err := url.Parse(r.webhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("webhook_url: must be an absolute http(s) URL")
		}
	}
	if signing != "" {
		// Only the signing secret is ever used: the sandbox signs, it
		// never verifies webhooks.
		r.webhookSecret, r.signingLabel = signing, "webhook_signing_secret"
	}
	return r, nil
}

// serve routes a request below <prefix>/razorpay.
func (rz *razorpay) serve(w http.ResponseWriter, r *http.Request, rest string) error {
	if token, ok := strings.CutPrefix(rest, "/checkout/"); ok && token != "" && !strings.Contains(token, "/") {
		return rz.checkout(w, r, token)
	}
	if sub, ok := strings.CutPrefix(rest, "/_sandbox/payments"); ok {
		return rz.inspect(w, r, sub)
	}
	if rest == "/v1" || strings.HasPrefix(rest, "/v1/") {
		if e := rz.authenticate(r); e != nil {
			return rzpWriteError(w, e)
		}
		return rz.api(w, r, strings.TrimPrefix(rest, "/v1"))
	}
	http.NotFound(w, r)
	return nil
}

// api routes an authenticated /v1 request; path follows "/v1".
func (rz *razorpay) api(w http.ResponseWriter, r *http.Request, path string) error {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	get, post := r.Method == http.MethodGet || r.Method == http.MethodHead, r.Method == http.MethodPost
	switch {
	case len(seg) == 1 && seg[0] == "orders" && post:
		return rz.createOrder(w, r)
	case len(seg) == 1 && seg[0] == "orders" && get:
		return rz.listOrders(w, r)
	case len(seg) == 2 && seg[0] == "orders" && get:
		return rz.fetchOrder(w, seg[1])
	case len(seg) == 3 && seg[0] == "orders" && seg[2] == "payments" && get:
		return rz.orderPayments(w, r, seg[1])
	case len(seg) == 3 && seg[0] == "payments" && seg[1] == "create" && (seg[2] == "json" || seg[2] == "redirect") && post:
		return rz.createPayment(w, r, seg[2] == "redirect")
	case len(seg) == 2 && seg[0] == "payments" && seg[1] != "create" && get:
		return rz.fetchPayment(w, seg[1])
	case len(seg) == 3 && seg[0] == "payments" && seg[2] == "status" && get:
		return rz.paymentStatus(w, seg[1])
	case len(seg) == 3 && seg[0] == "payments" && seg[2] == "capture" && post:
		return rz.capture(w, r, seg[1])
	case len(seg) == 3 && seg[0] == "payments" && seg[2] == "refund" && post:
		return rz.refund(w, r, seg[1])
	case len(seg) == 3 && seg[0] == "payments" && seg[2] == "refunds" && get:
		return rz.paymentRefunds(w, r, seg[1])
	case len(seg) == 4 && seg[0] == "payments" && seg[2] == "refunds" && get:
		return rz.fetchRefund(w, seg[3], seg[1])
	case len(seg) == 2 && seg[0] == "refunds" && get:
		return rz.fetchRefund(w, seg[1], "")
	}
	// Razorpay's answer for an unknown path, a wrong method or a feature
	// that is not enabled (reference §7.2).
	return rzpWriteError(w, rzpErrNA(http.StatusBadRequest, "The requested URL was not found on the server."))
}

// unmarshalRazorpay parses the razorpay { ... } block:
//
//	razorpay {
//		key_id <id>                      # default rzp_test_sandbox
//		key_secret <secret>              # default sandbox_key_secret
//		webhook_secret <secret>          # default sandbox_webhook_secret
//		webhook_signing_secret <secret>  # sign webhooks with this instead (e.g. the previous secret)
//		webhook_url <url>                # where webhooks go; none are sent when unset
//	}
func (h *Handler) unmarshalRazorpay(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if h.Razorpay == nil {
		h.Razorpay = new(RazorpayConfig)
	}
	c := h.Razorpay
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "key_id":
			dst = &c.KeyID
		case "key_secret":
			dst = &c.KeySecret
		case "webhook_secret":
			dst = &c.WebhookSecret
		case "webhook_signing_secret":
			dst = &c.WebhookSigningSecret
		case "webhook_url":
			dst = &c.WebhookURL
		default:
			return d.Errf("payments_sandbox: razorpay: unknown subdirective %q", d.Val())
		}
		if err := oneArg(d, dst); err != nil {
			return err
		}
	}
	return nil
}
