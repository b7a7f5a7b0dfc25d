package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/payabl"
	"github.com/caddy-payments/caddy-payments/providers/paysage"
	"github.com/caddy-payments/caddy-payments/providers/razorpay"
	"github.com/caddy-payments/caddy-payments/sandbox"
)

// The plain reverse_proxy is measured with the same wire calls the gateway
// makes: the benchmark builds them with the product's own provider
// modules (configured like the gateway's accounts, but with the plain
// site as endpoint) and a Doer that keeps the request instead of sending
// it. So the plain proxy carries byte for byte what the gateway would send
// for the same payment (only the return token differs: it is the
// gateway's HMAC, here a stand-in of the same length).

// paysagePublicKey is the sandbox's TEST-ONLY PaySage webhook key (public
// half), which the gateway's paysage account verifies with.
func paysagePublicKey() string { return sandbox.PaysagePublicKey() }

// wireCall is one captured provider request.
type wireCall struct {
	method, url string
	header      http.Header
	body        []byte
}

// errCaptured stops a provider call after its request was captured.
var errCaptured = errors.New("captured")

// captureDoer is a providers.Doer that records the request.
type captureDoer struct{ call *wireCall }

func (d *captureDoer) Do(_ context.Context, req *http.Request) (*providers.Reply, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	d.call = &wireCall{method: req.Method, url: req.URL.String(), header: req.Header.Clone(), body: body}
	return nil, errCaptured
}

// wireProvider is the part of providers.Provider the benchmark uses.
type wireProvider interface {
	CreatePayment(context.Context, providers.Doer, *providers.CreatePayment) (*providers.Payment, error)
	GetPayment(context.Context, providers.Doer, string) (*providers.Payment, error)
}

// wireProviders builds the three accounts with base (the plain site's
// /sandbox prefix) as endpoint.
func wireProviders(base string, s secrets) (map[string]wireProvider, error) {
	pa := &payabl.Provider{MerchantID: payablMerchant, Secrets: []string{s.payabl}, Endpoint: base + "/payabl/pay/backoffice"}
	rz := &razorpay.Provider{KeyID: rzpKeyID, KeySecret: s.rzpKey, WebhookSecrets: []string{s.rzpWebhook},
		AccountID: rzpAccountID, Endpoint: base + "/razorpay"}
	ps := &paysage.Provider{ShopID: paysageShopID, SecretKey: s.paysage, PublicKey: paysage.Keys{paysagePublicKey()},
		Test: true, Endpoint: base + "/paysage"}
	for name, p := range map[string]caddy.Provisioner{"payabl": pa, "razorpay": rz, "paysage": ps} {
		if err := p.Provision(caddy.Context{}); err != nil {
			return nil, fmt.Errorf("provisioning the %s wire builder: %w", name, err)
		}
	}
	return map[string]wireProvider{"payabl": pa, "razorpay": rz, "paysage": ps}, nil
}

// magic are the sandboxes' magic amounts (declines, timeouts, garbage,
// duplicates): the benchmark's amounts avoid them.
var magic = map[int64]bool{1111: true, 1212: true, 1234: true, 1313: true, 1414: true, 1515: true,
	1616: true, 1717: true, 6666: true}

// refTag abbreviates the provider in references.
var refTag = map[string]string{"payabl": "pb", "razorpay": "rz", "paysage": "ps"}

// order is one payment of the benchmark.
type order struct {
	provider, ref, key string
	amount             int64
}

func newOrder(run, provider string, side byte, i int) order {
	amount := 1990 + int64(i%5000)
	for magic[amount] {
		amount++
	}
	ref := fmt.Sprintf("LB-%s-%s%c-%06d", run, refTag[provider], side, i)
	return order{provider: provider, ref: ref, key: "lb-" + ref, amount: amount}
}

// canonical is the gateway's create request for o: what a shop sends
// (the fault test's body: customer, language, the three return URLs;
// Razorpay needs the phone and takes no language).
func (o order) canonical() *providers.CreatePayment {
	req := &providers.CreatePayment{
		Provider: o.provider, Reference: o.ref, Amount: o.amount, Currency: "EUR",
		Description: "Order " + o.ref,
		Customer: providers.Customer{ID: "cust-42", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com",
			Country: "SE", IP: "203.0.113.7"},
		Language:   "en",
		ReturnURL:  "https://shop.example/return",
		SuccessURL: "https://shop.example/ok",
		FailureURL: "https://shop.example/failed",
	}
	if o.provider == "razorpay" {
		req.Customer.Phone, req.Customer.UserAgent = "+46701234567", "Mozilla/5.0 (load benchmark shop)"
		req.Language = ""
	}
	return req
}

// canonicalBody is the JSON a shop posts to POST /payments.
func (o order) canonicalBody() []byte {
	b, _ := json.Marshal(o.canonical())
	return b
}

// wireCreate is the provider request the gateway sends for o, as the
// host completes the canonical request (notification and return URLs
// under public_url, the merchant's idempotency key).
func wireCreate(p wireProvider, o order, public string) (*wireCall, error) {
	d := &captureDoer{}
	_, err := p.CreatePayment(context.Background(), d, o.hosted(public))
	if d.call == nil {
		return nil, fmt.Errorf("building the %s create for %s: %v", o.provider, o.ref, err)
	}
	return d.call, nil
}

// hosted is o's canonical request as the host completes it before the
// provider sees it.
func (o order) hosted(public string) *providers.CreatePayment {
	req := o.canonical()
	req.NotificationURL = public + "/notifications/" + o.provider
	req.GatewayReturnURL = public + "/returns/" + o.provider + "?reference=" + o.ref +
		"&return_token=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	req.IdempotencyKey = o.key
	return req
}

// sendDoer sends the request (through the plain proxy) and returns the
// reply, so the provider module can judge it.
type sendDoer struct{ client *http.Client }

func (d sendDoer) Do(ctx context.Context, req *http.Request) (*providers.Reply, error) {
	resp, err := d.client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, providers.DefaultMaxReply))
	if err != nil {
		return nil, err
	}
	return &providers.Reply{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

var probeDoer = sendDoer{client: &http.Client{Timeout: 30 * time.Second}}

// probeCreate sends one create as the plain side does and has the
// provider module read the sandbox's reply: an error means the plain
// side's wire calls are refused (a wrong signature, say), which would
// make it fast for the wrong reason.
func probeCreate(p wireProvider, o order, public string) error {
	if _, err := p.CreatePayment(context.Background(), probeDoer, o.hosted(public)); err != nil {
		return fmt.Errorf("the sandbox refused the plain side's %s create (through the plain proxy): %v", o.provider, err)
	}
	return nil
}

// probeGet is probeCreate for the fetch of GET /payments/{id}.
func probeGet(p wireProvider, provider, ref string) error {
	if _, err := p.GetPayment(context.Background(), probeDoer, ref); err != nil {
		return fmt.Errorf("the sandbox refused the plain side's %s fetch of %s (through the plain proxy): %v", provider, ref, err)
	}
	return nil
}

// wireGet is the provider request the gateway sends for GET
// /payments/{id} of a payment with provider reference ref.
func wireGet(p wireProvider, provider, ref string) (*wireCall, error) {
	d := &captureDoer{}
	_, err := p.GetPayment(context.Background(), d, ref)
	if d.call == nil {
		return nil, fmt.Errorf("building the %s fetch of %s: %v", provider, ref, err)
	}
	return d.call, nil
}
