// Package sandbox is an embedded emulator of the payment service providers'
// APIs, served by the Caddy module http.handlers.payments_sandbox.
//
// It imitates each provider's wire format (paths, encodings, signature
// checks, error shapes), hosts a checkout page per payment where a person
// clicks "Approve" or "Decline", and sends correctly signed notifications.
// It is written from the provider documents only and imports none of the
// gateway's provider packages, so end-to-end tests between the gateway and
// the sandbox catch a misread wire format instead of repeating it on both
// sides. Every object it creates is a test object held in memory; nothing
// ever touches a real provider or real money.
//
// Each provider lives under <prefix>/<provider>/ and is implemented in its
// own files (payabl*.go for payabl.). See MagicValues for the amounts that
// make the sandbox decline, time out, reply garbage or duplicate
// notifications.
package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults applied in Provision.
const (
	// DefaultPrefix is the path prefix the sandbox serves when none is configured.
	DefaultPrefix = "/sandbox"
	// DefaultSlowDelay is how long the "timeout" magic value stalls: longer
	// than the gateway's default 30s provider timeout, so it really times out.
	DefaultSlowDelay = 35 * time.Second
	// notifyTimeout bounds one notification delivery, like a real PSP would.
	notifyTimeout = 10 * time.Second
	// maxBody caps request bodies; provider API requests are a few KiB.
	maxBody = 1 << 20
)

// Handler is the payments_sandbox middleware. Requests whose path is under
// Prefix are answered by the emulator of the provider named by the next path
// segment (<prefix>/payabl/...); every other request is passed to the next
// handler untouched.
//
// State is in memory and belongs to one module instance: a config reload
// starts an empty sandbox.
//
// The sandbox is for demos and tests, not for the open internet: its
// credentials are published, it POSTs notifications to whatever
// notification_url a caller names, and its inspection endpoints let anyone
// approve any payment. So by default it answers loopback clients only
// (others get 403), delivers notifications to loopback addresses only
// (checked on the address actually dialed), never follows a redirect and
// never publishes what a notification target answered; AllowRemoteClients
// and AllowRemoteTargets lift the first two rules.
type Handler struct {
	// Prefix is the path under which the sandbox is served. Default
	// "/sandbox"; payabl. then lives under /sandbox/payabl.
	Prefix string `json:"prefix,omitempty"`

	// PublicURL is the absolute URL at which Prefix is reachable from a
	// browser, prefix included (e.g. "https://shop.example/sandbox"). It is
	// used to build checkout links. Default: derived from each request's
	// scheme and Host plus Prefix, which is right unless a proxy in front
	// rewrites the host or path.
	PublicURL string `json:"public_url,omitempty"`

	// NotifyDelay is the pause between the two Trustly notifications after
	// "Approve" (not_credited_yet, then credited). Default 0; set it to
	// watch a payment sit in the intermediate state.
	NotifyDelay caddy.Duration `json:"notify_delay,omitempty"`

	// SlowDelay is how long the "timeout" magic value makes the sandbox wait
	// before answering. Default 35s; tests set it small.
	SlowDelay caddy.Duration `json:"slow_delay,omitempty"`

	// AllowRemoteClients lets clients that are not on a loopback address
	// use the sandbox (its API, checkout pages and inspection listings).
	// Default false: any other client gets 403. Turn it on only for a demo
	// on a trusted network: the sandbox's credentials are published and
	// anyone it serves can approve any payment.
	AllowRemoteClients bool `json:"allow_remote_clients,omitempty"`

	// AllowRemoteTargets lets the sandbox deliver notifications to
	// addresses that are not loopback. Default false: a notification_url
	// (or webhook_url) whose host is, or resolves to, anything but a
	// loopback address is refused when dialed, and the refusal is recorded
	// in the inspection listing. Redirects are never followed either way.
	AllowRemoteTargets bool `json:"allow_remote_targets,omitempty"`

	// Payabl configures the payabl. emulator. Optional: without it the
	// emulator accepts the public payabl. sandbox account.
	Payabl *PayablConfig `json:"payabl,omitempty"`

	// Razorpay configures the Razorpay emulator (under <prefix>/razorpay).
	// Optional: without it the emulator accepts its documented test keys.
	Razorpay *RazorpayConfig `json:"razorpay,omitempty"`

	// Paysage configures the PaySage emulator (under <prefix>/paysage).
	// Optional: without it the emulator accepts its documented test shop.
	Paysage *PaysageConfig `json:"paysage,omitempty"`

	env       *env
	emulators map[string]emulator
}

// emulator is one provider's imitation. rest is the request path after
// <prefix>/<provider>, always starting with "/" or empty.
type emulator interface {
	serve(w http.ResponseWriter, r *http.Request, rest string) error
}

// env is what every emulator shares: lifetime, logging, outbound HTTP and
// the timing knobs. Background work started through it stops on Cleanup.
type env struct {
	ctx         context.Context
	cancel      context.CancelFunc
	logger      *zap.Logger
	client      *http.Client
	prefix      string
	publicURL   string
	notifyDelay time.Duration
	slowDelay   time.Duration

	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.payments_sandbox",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision applies defaults, resolves placeholders in secrets and builds
// the emulators.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.Prefix == "" {
		h.Prefix = DefaultPrefix
	}
	h.Prefix = strings.TrimSuffix(h.Prefix, "/")
	if err := h.validatePrefixAndURL(); err != nil {
		return err
	}
	slow := time.Duration(h.SlowDelay)
	if slow == 0 {
		slow = DefaultSlowDelay
	}
	runCtx, cancel := context.WithCancel(ctx)
	h.env = &env{
		ctx:         runCtx,
		cancel:      cancel,
		logger:      ctx.Logger(),
		client:      newNotifyClient(h.AllowRemoteTargets),
		prefix:      h.Prefix,
		publicURL:   strings.TrimSuffix(h.PublicURL, "/"),
		notifyDelay: time.Duration(h.NotifyDelay),
		slowDelay:   slow,
	}
	pay, err := newPayabl(h.env, h.Payabl)
	if err != nil {
		return fmt.Errorf("payments_sandbox: payabl: %w", err)
	}
	rzp, err := newRazorpay(h.env, h.Razorpay)
	if err != nil {
		return fmt.Errorf("payments_sandbox: razorpay: %w", err)
	}
	ps, err := newPaysage(h.env, h.Paysage)
	if err != nil {
		return fmt.Errorf("payments_sandbox: paysage: %w", err)
	}
	h.emulators = map[string]emulator{"payabl": pay, "razorpay": rzp, "paysage": ps}
	h.warnEnabled(pay, rzp, ps)
	return nil
}

// warnEnabled says loudly, at every start, that the sandbox is on and what
// it accepts. It names the accounts and whether their secrets are the
// published defaults, never a secret.
func (h *Handler) warnEnabled(pay *payabl, rzp *razorpay, ps *paysage) {
	scope := func(remote bool) string {
		if remote {
			return "ANY address (allow_remote)"
		}
		return "loopback only"
	}
	var published []string
	if pay.secret == DefaultPayablSecret {
		published = append(published, "payabl secret")
	}
	if rzp.keySecret == DefaultRazorpayKeySecret {
		published = append(published, "razorpay key_secret")
	}
	if rzp.webhookSecret == DefaultRazorpayWebhookSecret {
		published = append(published, "razorpay webhook_secret")
	}
	if ps.secretKey == DefaultPaysageSecretKey {
		published = append(published, "paysage secret_key")
	}
	if ps.publicKey == paysageTestPublicKey {
		published = append(published, "paysage webhook signing key (embedded TEST-ONLY key)")
	}
	h.env.logger.Warn("payments SANDBOX ENABLED: it emulates payment providers for demos and tests only; "+
		"every object is a test object, anyone it serves can approve any payment, and it must never face the internet",
		zap.String("prefix", h.Prefix),
		zap.String("clients", scope(h.AllowRemoteClients)),
		zap.String("notification_targets", scope(h.AllowRemoteTargets)),
		zap.String("payabl_merchant_id", pay.merchantID),
		zap.String("razorpay_key_id", rzp.keyID),
		zap.String("paysage_shop_id", ps.shopID),
		zap.Strings("published_demo_credentials_accepted", published))
}

// Validate checks the configuration once more after Provision.
func (h *Handler) Validate() error {
	if err := h.validatePrefixAndURL(); err != nil {
		return err
	}
	if h.NotifyDelay < 0 || h.SlowDelay < 0 {
		return fmt.Errorf("payments_sandbox: notify_delay and slow_delay must not be negative")
	}
	return nil
}

func (h *Handler) validatePrefixAndURL() error {
	if h.Prefix != "" && !strings.HasPrefix(h.Prefix, "/") {
		return fmt.Errorf("payments_sandbox: prefix %q must start with '/'", h.Prefix)
	}
	if h.PublicURL != "" {
		u, err := url.Parse(h.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("payments_sandbox: public_url must be an absolute http(s) URL without query or fragment")
		}
	}
	return nil
}

// Cleanup stops background notification deliveries and waits for them.
// It is safe to call when Provision failed.
func (h *Handler) Cleanup() error {
	if h.env != nil {
		h.env.stop()
	}
	return nil
}

// ServeHTTP serves requests under Prefix and passes the rest to next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	rest, ok := cutPathPrefix(r.URL.Path, h.Prefix)
	if !ok {
		return next.ServeHTTP(w, r)
	}
	// Everything the sandbox answers is a test object; say so on the wire.
	w.Header().Set("X-Payments-Sandbox", "test")
	if !h.AllowRemoteClients && !loopbackClient(r) {
		refuseRemoteClient(w)
		return nil
	}
	name, sub, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	em, ok := h.emulators[name]
	if !ok {
		http.Error(w, "payments sandbox: unknown provider; try "+h.Prefix+"/payabl/", http.StatusNotFound)
		return nil
	}
	if sub != "" || strings.HasSuffix(rest, "/") {
		sub = "/" + sub
	}
	return em.serve(w, r, sub)
}

// cutPathPrefix reports whether path is prefix itself or below it, and
// returns the remainder. "/sandboxes" is not under "/sandbox".
func cutPathPrefix(path, prefix string) (string, bool) {
	if prefix == "" || prefix == "/" {
		return path, true
	}
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return rest, true
}

// baseURL is the external URL of the sandbox prefix for this request.
func (e *env) baseURL(r *http.Request) string {
	if e.publicURL != "" {
		return e.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + e.prefix
}

// goAsync runs f in a goroutine tied to the module's lifetime. It returns
// false, without running f, once the module is being cleaned up.
func (e *env) goAsync(f func(ctx context.Context)) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return false
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f(e.ctx)
	}()
	return true
}

// isStopped reports whether Cleanup has begun; callers check it before
// changing state that needs background work to finish.
func (e *env) isStopped() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopped
}

// stop cancels background work and waits for it to return.
func (e *env) stop() {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
}

// sleep waits d, or less if ctx or the module ends first; it reports
// whether the full delay elapsed.
func (e *env) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil && e.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-e.ctx.Done():
		return false
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
