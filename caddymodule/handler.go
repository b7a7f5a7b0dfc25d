// Package caddymodule is the caddy-payments gateway: the Caddy HTTP handler
// `http.handlers.payments` (Caddyfile directive `payments`) that serves one
// canonical payments API in front of several payment providers, and
// authenticates provider notifications before forwarding them, signed, to
// the shop behind Caddy. Importing it also registers every provider module
// and the embedded sandbox.
package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults.
const (
	defaultMaxBody = 1 << 20
	defaultTimeout = 30 * time.Second
)

// Handler is the payments gateway. It serves the canonical API
// (POST /payments, GET /payments/{id}, GET /payments?provider=&reference=,
// POST /payments/{id}/refunds, GET /refunds/{id}, POST /payouts,
// GET /payouts/{id}, GET /providers), receives provider notifications at
// POST /notifications/{name} and customer returns at /returns/{name}.
// Every other request goes to the next handler untouched, so the gateway
// can sit in front of a shop as a transparent proxy.
//
// A verified notification becomes one canonical event that is sent to the
// next handler (normally a reverse_proxy to the shop) as a POST signed per
// Standard Webhooks; the provider is acknowledged only once a handler after
// this one answered the event with a 2xx.
type Handler struct {
	// Provider accounts, keyed by block name (the name used in request
	// `provider` fields and in /notifications/{name}). Each value is a
	// provider module object whose `provider` key names its type (payabl,
	// razorpay, paysage), so one type can have several accounts.
	ProvidersRaw map[string]json.RawMessage `json:"providers,omitempty" caddy:"namespace=http.payments.providers inline_key=provider"`

	// The provider used when a request names none. Optional when exactly
	// one provider is configured.
	DefaultProvider string `json:"default_provider,omitempty"`

	// Routing rules for creates that name no provider, tried in order
	// before DefaultProvider, which applies only when none matches (see
	// PaymentRoute and docs/routing.md). Caddyfile: repeatable
	// `route { ... }` blocks.
	Routes []PaymentRoute `json:"routes,omitempty"`

	// The circuit breakers of the provider accounts, which keep routed
	// creates away from an account that keeps failing (see BreakerConfig).
	// Default: 5 consecutive failures open one for 30s.
	Breaker *BreakerConfig `json:"breaker,omitempty"`

	// Bearer tokens accepted on the canonical API (several, for rotation).
	// Placeholders such as {env.PAYMENTS_TOKEN} or {file./run/secrets/t} are
	// resolved at provision time. Each has every scope (see APIKeys).
	// Required unless APIKeys or DisableAPIToken is set.
	APITokens []string `json:"api_tokens,omitempty"`

	// Named API keys limited to some scopes, for least privilege: e.g. a
	// storefront's key that can create and read payments but not refund
	// or pay out. api_token keeps meaning every scope. Not together with
	// DisableAPIToken.
	APIKeys []APIKey `json:"api_keys,omitempty"`

	// Accept canonical API calls without a token. Only for setups where
	// Caddy's own authentication, mTLS or a private network protects the
	// API (Caddyfile: `api_token off`).
	DisableAPIToken bool `json:"disable_api_token,omitempty"`

	// Secrets that sign events forwarded to the shop, each `whsec_` followed
	// by base64 (Standard Webhooks). Every secret signs every event, so a
	// shop can rotate: add the new one first, remove the old one later.
	// Placeholders are resolved at provision time. At least one is required.
	ForwardSecrets []string `json:"forward_secrets,omitempty"`

	// The path forwarded events are sent with. Default: the notification's
	// own path (/notifications/{name}).
	ForwardPath string `json:"forward_path,omitempty"`

	// This gateway's public base URL as providers and customers reach it,
	// prefix included (e.g. https://shop.example/pay). Notification and
	// return URLs given to providers are built from it. Required.
	PublicURL string `json:"public_url,omitempty"`

	// The largest request or notification body accepted, in bytes; larger
	// bodies get 413. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// How long one provider call may take. Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Where the embedded state store keeps its file. Default:
	// <Caddy data directory>/payments/state.db.
	StoragePath string `json:"storage_path,omitempty"`

	// How long one delivery attempt to the shop may take before it counts
	// as failed (and, with the outbox, is retried). With the outbox on, the
	// attempt made while the provider waits for its acknowledgement is cut
	// at 4 s at most, because Razorpay wants a 2xx within 5 s; the outbox
	// worker's attempts get the whole timeout. Default: 15s.
	ForwardTimeout caddy.Duration `json:"forward_timeout,omitempty"`

	// How long every event the gateway announced to the shop is kept for
	// the Events API (GET /events, GET /events/{id}, POST
	// /events/{id}/redeliver). Older events are pruned by the outbox
	// worker, a bounded batch per tick. Default: 720h (30 days).
	EventRetention caddy.Duration `json:"event_retention,omitempty"`

	// Keep the state in Redis instead of the embedded file, so that several
	// Caddy instances share it. Default: the embedded file.
	Redis *RedisStorage `json:"redis,omitempty"`

	// Keep the state in PostgreSQL instead of the embedded file, so that
	// several Caddy instances share it. Default: the embedded file.
	Postgres *PostgresStorage `json:"postgres,omitempty"`

	// Turns the outbox off. With the outbox (the default), a verified event
	// is stored durably before the provider is acknowledged; if the shop
	// does not accept it at once, the provider is acknowledged anyway and
	// the gateway redelivers the event on RetrySchedule until the shop
	// answers 2xx. Without it, the provider is acknowledged only once the
	// shop accepted, and redelivery relies on the provider's own retries.
	DisableOutbox bool `json:"disable_outbox,omitempty"`

	// Delays between redelivery attempts of a queued event, after the
	// first immediate attempt; after the last one, attempts continue at the
	// last delay until the shop accepts. Each delay is jittered by ±20%.
	// Default: 5s 5m 30m 2h 5h 10h 10h (the Standard Webhooks / Svix
	// schedule).
	RetrySchedule []caddy.Duration `json:"retry_schedule,omitempty"`

	// Delays between re-fetches of a payment, refund or payout that is not
	// final yet (no notification came, Razorpay's late-authorisation
	// window, payabl's failure of unfunded payments after 15 days); after
	// the last one, checks continue at the last delay for up to 30 days. A
	// change is forwarded to the shop like a notification's. Default: 1m
	// 5m 15m 1h 6h 24h. Needs the outbox.
	ReconcileSchedule []caddy.Duration `json:"reconcile_schedule,omitempty"`

	// At most this many reconcile checks of one provider account run at
	// a time, in this instance. Default: 4.
	ReconcileConcurrency int `json:"reconcile_concurrency,omitempty"`

	// At most this many reconcile calls (status fetches and resend
	// requests) are made to one provider account per second, in this
	// instance, evenly spaced; due checks beyond it wait their turn.
	// Default: 10.
	ReconcileRate int `json:"reconcile_rate,omitempty"`

	// How many idle keep-alive connections to each provider host are kept
	// for reuse; size it for the concurrent provider calls the gateway
	// makes. Default: 64.
	MaxIdleConnsPerHost int `json:"max_idle_conns_per_host,omitempty"`

	providers   map[string]providers.Provider
	names       []string
	tokens      [][]byte
	keys        []apiKey // api_token tokens and api_key keys
	fwdKeys     [][]byte
	publicURL   *url.URL
	store       store.Store
	closeStore  func() error
	doer        *providers.HTTPDoer
	logger      *zap.Logger
	now         func() time.Time
	maxBodySize int64
	// refundsInFlight counts refund creates between the provider call and
	// storing the refund record; a refund notification that races ahead
	// of its record waits for them (see refundEvent).
	refundsInFlight *atomic.Int32
	// ctx is kept for the outbox worker (it finds the HTTP server through
	// it) and its lifetime.
	ctx         caddy.Context
	outboxDepth *atomic.Int64
	// fetchLimiter rate-limits unverifiable notifications (each costs a
	// provider fetch), signedLimiter the authenticated ones that need a
	// fetch, so that forged floods never starve genuine notifications
	// (see notify_limit.go).
	fetchLimiter, signedLimiter *notifyLimiter
	// metrics are the gateway's Prometheus collectors (metrics.go).
	metrics *gatewayMetrics
	// transport is this gateway's own connection pool to its providers.
	transport *http.Transport
	// recon paces the reconciler per provider account (reconcile.go).
	recon *reconciler
	// deferred retries record writes the store refused after a provider
	// acted (deferred.go).
	deferred *deferredWrites
	// breakers are the accounts' circuit breakers, by block name
	// (breaker.go).
	breakers map[string]*breaker
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.payments",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision loads the provider accounts, resolves secrets and opens the
// state store.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.now = time.Now
	h.refundsInFlight = new(atomic.Int32)

	if h.ProvidersRaw != nil {
		mods, err := ctx.LoadModule(h, "ProvidersRaw")
		if err != nil {
			return fmt.Errorf("loading providers: %w", err)
		}
		h.providers = make(map[string]providers.Provider)
		for name, m := range mods.(map[string]any) {
			p, ok := m.(providers.Provider)
			if !ok {
				return fmt.Errorf("loading provider %s: module %T is not a payments provider", name, m)
			}
			h.providers[name] = p
			h.names = append(h.names, name)
		}
		sort.Strings(h.names)
	}

	repl := caddy.NewReplacer()
	if err := h.provisionKeys(repl); err != nil {
		return err
	}
	for i, s := range h.ForwardSecrets {
		v, err := repl.ReplaceOrErr(s, true, true)
		if err != nil {
			return fmt.Errorf("resolving forward_secret %d: %w", i+1, err)
		}
		key, err := decodeWhsec(v)
		if err != nil {
			return fmt.Errorf("forward_secret %d: %w", i+1, err)
		}
		h.fwdKeys = append(h.fwdKeys, key)
	}
	if h.PublicURL != "" {
		v, err := repl.ReplaceOrErr(h.PublicURL, true, true)
		if err != nil {
			return fmt.Errorf("resolving public_url: %w", err)
		}
		u, err := url.Parse(strings.TrimRight(v, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("public_url must be an absolute http(s) URL")
		}
		h.publicURL = u
	}
	if err := h.checkDemoSecrets(); err != nil {
		return err
	}

	h.maxBodySize = h.MaxBody
	if h.maxBodySize <= 0 {
		h.maxBodySize = defaultMaxBody
	}
	h.transport = providers.NewTransport(h.MaxIdleConnsPerHost)
	h.doer = &providers.HTTPDoer{
		Client:  &http.Client{Transport: h.transport, CheckRedirect: noRedirects},
		Timeout: h.providerTimeout(),
		Observe: h.observeCall,
	}

	if err := h.claimStore(ctx); err != nil {
		return err
	}
	db, closeDB, err := h.openStore()
	if err != nil {
		return fmt.Errorf("opening state store: %w", err)
	}
	h.store = db
	h.closeStore = closeDB
	h.ctx = ctx
	h.deferred = new(deferredWrites)
	h.outboxDepth = new(atomic.Int64)
	h.fetchLimiter = newNotifyLimiter(h.names, bucketRule{fetchAccountBurst, fetchAccountEvery},
		bucketRule{fetchRefBurst, fetchRefEvery}, fetchRefMax)
	h.signedLimiter = newNotifyLimiter(h.names, bucketRule{signedAccountBurst, signedAccountEvery},
		bucketRule{signedRefBurst, signedRefEvery}, fetchRefMax)
	h.recon = newReconciler(h.ReconcileConcurrency, h.ReconcileRate)
	if err := h.registerMetrics(ctx); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	h.breakers = h.newBreakers()
	if !h.DisableOutbox {
		go h.runOutbox(ctx)
	}
	registerGateway(h) // for the admin API (registry.go)
	return nil
}

// Validate refuses a configuration that cannot work.
// providerTimeout is the configured timeout or its default.
func (h *Handler) providerTimeout() time.Duration {
	if h.Timeout > 0 {
		return time.Duration(h.Timeout)
	}
	return defaultTimeout
}

func (h *Handler) Validate() error {
	if len(h.providers) == 0 {
		return fmt.Errorf("payments: at least one provider block is required")
	}
	for _, name := range h.names {
		if !validBlockName(name) {
			return fmt.Errorf("payments: provider name %q must be 1-64 characters of a-z, 0-9, _ or -", name)
		}
	}
	if h.DefaultProvider != "" {
		if _, ok := h.providers[h.DefaultProvider]; !ok {
			return fmt.Errorf("payments: default_provider %q is not a configured provider", h.DefaultProvider)
		}
	}
	if len(h.APITokens) == 0 && len(h.APIKeys) == 0 && !h.DisableAPIToken {
		return fmt.Errorf("payments: api_token or api_key is required (or `api_token off` when something else protects the API)")
	}
	if len(h.APITokens) > 0 && h.DisableAPIToken {
		return fmt.Errorf("payments: api_token cannot both be set and off")
	}
	if len(h.APIKeys) > 0 && h.DisableAPIToken {
		return fmt.Errorf("payments: api_key cannot be used with api_token off (every anonymous call would have every scope)")
	}
	for i, t := range h.tokens {
		if len(t) < 16 {
			return fmt.Errorf("payments: api_token %d must be at least 16 characters", i+1)
		}
	}
	if len(h.ForwardSecrets) == 0 {
		return fmt.Errorf("payments: forward_secret is required (whsec_ followed by base64): it signs the events forwarded to the shop")
	}
	if h.Redis != nil && h.StoragePath != "" {
		return fmt.Errorf("payments: give either storage redis or storage_path, not both")
	}
	if err := h.validateStorage(); err != nil { // storage.go
		return err
	}
	if h.Redis != nil && h.Redis.Addr == "" {
		return fmt.Errorf("payments: storage redis needs the server's address")
	}
	if h.publicURL == nil {
		return fmt.Errorf("payments: public_url is required: provider notification and return URLs are built from it")
	}
	for i, d := range h.RetrySchedule {
		if d <= 0 {
			return fmt.Errorf("payments: retry_schedule entry %d must be a positive duration", i+1)
		}
	}
	for i, d := range h.ReconcileSchedule {
		if d <= 0 {
			return fmt.Errorf("payments: reconcile_schedule entry %d must be a positive duration", i+1)
		}
	}
	if h.ReconcileConcurrency < 0 || h.ReconcileRate < 0 {
		return fmt.Errorf("payments: reconcile_concurrency and reconcile_rate must be positive (Caddyfile: reconcile_limit <concurrent> <per_second>)")
	}
	if h.MaxIdleConnsPerHost < 0 {
		return fmt.Errorf("payments: max_idle_conns_per_host must be positive")
	}
	if h.ForwardPath != "" && !strings.HasPrefix(h.ForwardPath, "/") {
		return fmt.Errorf("payments: forward_path must start with /")
	}
	if h.EventRetention != 0 && time.Duration(h.EventRetention) < time.Minute {
		return fmt.Errorf("payments: event_retention must be at least 1m (default 720h)")
	}
	if b := h.Breaker; b != nil && (b.Failures < 0 || b.Cooldown < 0) {
		return fmt.Errorf("payments: breaker failures and cooldown must be positive (Caddyfile: breaker <failures> <cooldown>)")
	}
	if err := h.validateRoutes(); err != nil {
		return err
	}
	return nil
}

// Cleanup lets the reconcile checks under way end (the config's context
// is canceled by now, so their calls are), closes the idle provider
// connections and releases the state store.
func (h *Handler) Cleanup() error {
	unregisterGateway(h)
	for _, b := range h.breakers {
		b.stop()
	}
	h.recon.wait(5 * time.Second)
	h.deferred.wait(deferredAttempt)
	if h.transport != nil {
		h.transport.CloseIdleConnections()
	}
	if h.closeStore != nil {
		return h.closeStore()
	}
	return nil
}

// provider picks the provider account for a request: the named one, or the
// default.
func (h *Handler) provider(name string) (string, providers.Provider, *providers.Error) {
	if name == "" {
		switch {
		case h.DefaultProvider != "":
			name = h.DefaultProvider
		case len(h.names) == 1:
			name = h.names[0]
		default:
			return "", nil, providers.Missing("provider")
		}
	}
	p, ok := h.providers[name]
	if !ok {
		return "", nil, providers.Invalid("provider", "provider must name a configured provider account (one of: %s)", strings.Join(h.names, ", "))
	}
	return name, p, nil
}

// endpointURL builds a public URL under public_url.
func (h *Handler) endpointURL(path string) string {
	u := *h.publicURL
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	return u.String()
}

func (h *Handler) observeCall(req *http.Request, status int, d time.Duration, err error) {
	if c := h.logger.Check(zap.DebugLevel, "provider call"); c != nil {
		// Only the path: query strings and bodies can carry credentials.
		c.Write(zap.String("host", req.URL.Host), zap.String("path", req.URL.Path),
			zap.Int("status", status), zap.Duration("duration", d), zap.Bool("failed", err != nil))
	}
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// decodeWhsec decodes a Standard Webhooks secret: "whsec_" + base64.
func decodeWhsec(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, fmt.Errorf("must start with whsec_ (Standard Webhooks secret format)")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("the part after whsec_ must be standard base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("must decode to 24-64 bytes (Standard Webhooks)")
	}
	return key, nil
}

func validBlockName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
