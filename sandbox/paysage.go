package sandbox

import (
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// PaySage emulator (a white-label beGateway), APM API, Trustly only.
//
// Paths, under <prefix>/paysage (the same paths as https://api.paysage.io):
//
//	POST /beyag/transactions/payments            create a Trustly payment → {"transaction":{… "form":{action,method,fields}}}
//	POST /beyag/transactions/refunds             refund a successful payment (several partials, sum ≤ amount)
//	GET  /beyag/transactions/{uid}               one transaction
//	GET  /beyag/transactions/tracking_id/{id}    {"transactions":[…]} with that tracking_id, oldest first
//	GET  /checkout/{token}                       the hosted checkout page (Approve / Decline), form.action
//	GET  /customer/transactions/{uid}/{hash}     the receipt page behind receipt_url (read-only)
//	GET  /_sandbox/public_key                    the webhook signing public key, base64 DER SPKI
//	GET  /_sandbox/payments                      sandbox-only JSON listing with webhook deliveries
//	POST /_sandbox/payments/{uid}/{action}       sandbox-only approve | decline | expire | notify
//
// The API paths require HTTP Basic shop_id:secret_key and answer PaySage's
// error shape {"message":…,"errors":{…}}: 401 for credentials, 422 for
// validation. A RequestID header makes payments and refunds idempotent for
// 24 h, as beGateway documents: a repeat gets the first attempt's
// transaction, re-rendered with its current status.
//
// Lifecycle of a payment: create → pending (form.action = checkout page);
// Approve → successful; Decline → failed; expired_at passed or the sandbox
// "expire" action → expired. Each change after create is POSTed to the
// notification_url as {"transaction":{…}} with Authorization: Basic
// shop_id:secret_key and Content-Signature: base64(RSA PKCS#1 v1.5
// SHA-256 over the raw body). Any HTTP 200 acknowledges it.

// Defaults of the emulated test shop.
const (
	// DefaultPaysageShopID is the shop_id the emulator accepts by default.
	DefaultPaysageShopID = "361"
	// DefaultPaysageSecretKey is the secret_key the emulator accepts by default.
	DefaultPaysageSecretKey = "sandbox_secret_key"
)

// PaysageConfig configures the PaySage emulator. Every field is optional.
type PaysageConfig struct {
	// ShopID is the shop id (HTTP Basic user name) requests must carry and
	// webhooks present. Default "361". {env.*} placeholders are resolved in
	// Provision.
	ShopID string `json:"shop_id,omitempty"`

	// SecretKey is the shop's secret key (HTTP Basic password). Default
	// "sandbox_secret_key". {env.*} and {file.*} placeholders are resolved
	// in Provision, so the secret never has to be in the JSON config.
	SecretKey string `json:"secret_key,omitempty"`

	// PrivateKeyFile is a PEM file (PKCS#1 or PKCS#8) holding the RSA key
	// (at least 2048 bits) that signs webhooks. Default: the embedded
	// test-only key whose public half PaysagePublicKey returns. Set it to
	// prove that the gateway really checks the signature against its own
	// configured public_key.
	PrivateKeyFile string `json:"private_key_file,omitempty"`
}

// PaySage transaction statuses used by the emulator.
const (
	psPending    = "pending"
	psSuccessful = "successful"
	psFailed     = "failed"
	psExpired    = "expired"
)

// Transaction types.
const (
	psTypePayment = "payment"
	psTypeRefund  = "refund"
)

// paysage is the emulator's state. Fields below mu are guarded by it.
type paysage struct {
	env       *env
	shopID    string
	secretKey string
	key       *rsa.PrivateKey
	publicKey string // base64 DER SubjectPublicKeyInfo of key

	mu      sync.Mutex
	txns    map[string]*psTxn
	byToken map[string]*psTxn
	ordered []*psTxn
	idem    map[string]psIdem
}

// newPaysage builds the emulator: credentials with placeholders resolved
// and the webhook signing key.
func newPaysage(e *env, cfg *PaysageConfig) (*paysage, error) {
	p := &paysage{
		env:       e,
		shopID:    DefaultPaysageShopID,
		secretKey: DefaultPaysageSecretKey,
		key:       paysageTestKey,
		publicKey: paysageTestPublicKey,
		txns:      map[string]*psTxn{},
		byToken:   map[string]*psTxn{},
		idem:      map[string]psIdem{},
	}
	if cfg != nil {
		repl := caddy.NewReplacer()
		// ReplaceOrErr's error is not wrapped: it could quote the input.
		if cfg.ShopID != "" {
			s, err := repl.ReplaceOrErr(cfg.ShopID, true, true)
			if err != nil || s == "" {
				return nil, errors.New("shop_id: placeholder did not resolve to a value")
			}
			p.shopID = s
		}
		if cfg.SecretKey != "" {
			s, err := repl.ReplaceOrErr(cfg.SecretKey, true, true)
			if err != nil || s == "" {
				return nil, errors.New("secret_key: placeholder did not resolve to a value")
			}
			p.secretKey = s
		}
		if cfg.PrivateKeyFile != "" {
			path, err := repl.ReplaceOrErr(cfg.PrivateKeyFile, true, true)
			if err != nil || path == "" {
				return nil, errors.New("private_key: placeholder did not resolve to a value")
			}
			k, err := loadPaysageKey(path)
			if err != nil {
				return nil, err
			}
			p.key = k
			if p.publicKey, err = paysagePublicKeyOf(k); err != nil {
				return nil, err
			}
		}
	}
	// HTTP Basic cannot carry a ':' in the user name.
	if strings.Contains(p.shopID, ":") || !maxLen(p.shopID, 64) {
		return nil, errors.New("shop_id: at most 64 characters and no ':'")
	}
	return p, nil
}

// serve routes a request below <prefix>/paysage.
func (p *paysage) serve(w http.ResponseWriter, r *http.Request, rest string) error {
	if api, ok := strings.CutPrefix(rest, "/beyag/transactions/"); ok {
		if !p.authorized(r) {
			return writePaysageError(w, http.StatusUnauthorized, "Invalid shop_id/secret_key.", psErrs{"system": []string{"System error."}})
		}
		switch {
		case api == "payments" || api == "refunds":
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", http.MethodPost)
				return writePaysageError(w, http.StatusMethodNotAllowed, "Method not allowed", psErrs{"base": []string{"use POST"}})
			}
			if api == "payments" {
				return p.createPayment(w, r)
			}
			return p.createRefund(w, r)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			return writePaysageError(w, http.StatusMethodNotAllowed, "Method not allowed", psErrs{"base": []string{"use GET"}})
		case strings.HasPrefix(api, "tracking_id/"):
			return p.lookupTracking(w, strings.TrimPrefix(api, "tracking_id/"))
		case api != "" && !strings.Contains(api, "/"):
			return p.getTransaction(w, api)
		}
		return writePaysageError(w, http.StatusNotFound, "Not found", psErrs{"base": []string{"Not found"}})
	}
	if token, ok := strings.CutPrefix(rest, "/checkout/"); ok && token != "" && !strings.Contains(token, "/") {
		return p.checkout(w, r, token)
	}
	if sub, ok := strings.CutPrefix(rest, "/customer/transactions/"); ok {
		return p.receipt(w, r, sub)
	}
	if rest == "/_sandbox/public_key" {
		return p.servePublicKey(w, r)
	}
	if sub, ok := strings.CutPrefix(rest, "/_sandbox/payments"); ok {
		return p.inspect(w, r, sub)
	}
	http.NotFound(w, r)
	return nil
}

// insertLocked stores t under a fresh UUID. Caller holds p.mu.
func (p *paysage) insertLocked(t *psTxn) {
	for {
		id := newUUID()
		if _, taken := p.txns[id]; !taken {
			t.UID = id
			break
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	t.Created, t.Updated = now, now
	p.txns[t.UID] = t
	if t.Token != "" {
		p.byToken[t.Token] = t
	}
	p.ordered = append(p.ordered, t)
}

// newUUID returns a random (version 4) UUID, PaySage's APM uid format.
func newUUID() string {
	h := randomHex(16)
	b := []byte(h)
	b[12] = '4'
	b[16] = "89ab"[strings.IndexByte("0123456789abcdef", b[16])%4]
	return string(b[0:8]) + "-" + string(b[8:12]) + "-" + string(b[12:16]) + "-" + string(b[16:20]) + "-" + string(b[20:32])
}

// unmarshalPaysage parses the paysage { ... } block:
//
//	paysage {
//		shop_id <id>            # default 361
//		secret_key <secret>     # default sandbox_secret_key; {env.*}/{file.*} resolved in Provision
//		private_key <pem file>  # default: the embedded test-only key
//	}
func (h *Handler) unmarshalPaysage(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if h.Paysage == nil {
		h.Paysage = new(PaysageConfig)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "shop_id":
			if err := oneArg(d, &h.Paysage.ShopID); err != nil {
				return err
			}
		case "secret_key":
			if err := oneArg(d, &h.Paysage.SecretKey); err != nil {
				return err
			}
		case "private_key":
			if err := oneArg(d, &h.Paysage.PrivateKeyFile); err != nil {
				return err
			}
		default:
			return d.Errf("payments_sandbox: paysage: unknown subdirective %q", d.Val())
		}
	}
	return nil
}
